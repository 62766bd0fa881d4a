"""Fault injection: make RPCs fail and deployed models slow or failing, on purpose.

Tests of retry, rollback and alert logic need the emulator to misbehave on cue; these
faults are set through the admin surface and consumed by the request path.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from vxdeploy.emulator.errors import ApiError, parse_status


@dataclass
class RpcFault:
    rpc: str
    remaining: int
    status: str
    message: str


@dataclass
class ModelFault:
    """Added latency and/or an HTTP failure for a share of a deployed model's predictions."""

    deployed_model_id: str
    latency_ms: float = 0.0
    http_status: int = 0  # 0: do not fail
    fraction: float = 1.0  # share of requests that fail when http_status is set


class Faults:
    def __init__(self, rng: random.Random):
        self._rng = rng
        self._lock = threading.Lock()
        self._rpc: list[RpcFault] = []
        self._models: dict[str, ModelFault] = {}

    def fail_rpc(self, rpc: str, *, count: int = 1, status: str | int = "UNAVAILABLE",
                 message: str | None = None) -> RpcFault:
        """Make the next `count` calls of `rpc` ("*" for any) fail with `status`."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        name = parse_status(status)
        fault = RpcFault(rpc, count, name, message or f"Injected fault: {name} for {rpc}.")
        with self._lock:
            self._rpc.append(fault)
        return fault

    def take_rpc(self, rpc: str) -> ApiError | None:
        with self._lock:
            for fault in self._rpc:
                if fault.rpc in (rpc, "*") and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._rpc.remove(fault)
                    return ApiError(fault.status, fault.message)
        return None

    def set_model(self, fault: ModelFault) -> None:
        if not 0.0 <= fault.fraction <= 1.0:
            raise ValueError(f"fraction must be within 0..1, got {fault.fraction}")
        if fault.http_status and not 400 <= fault.http_status <= 599:
            raise ValueError(f"http_status must be 400-599, got {fault.http_status}")
        if fault.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {fault.latency_ms}")
        with self._lock:
            self._models[fault.deployed_model_id] = fault

    def model(self, deployed_model_id: str) -> tuple[float, int]:
        """(extra latency ms, HTTP status to fail with or 0) for one request."""
        with self._lock:
            fault = self._models.get(deployed_model_id)
            if fault is None:
                return 0.0, 0
            fails = fault.http_status and self._rng.random() < fault.fraction
            return fault.latency_ms, fault.http_status if fails else 0

    def clear(self) -> None:
        with self._lock:
            self._rpc.clear()
            self._models.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"rpc": [asdict(f) for f in self._rpc],
                    "deployed_models": [asdict(f) for f in self._models.values()]}
