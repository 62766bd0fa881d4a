"""The operator and test surface under `/_emulator/`: request log, reset, fault injection.

Plain JSON over HTTP, so tests in any part (and curl) can count mutating calls, make the
next DeployModel fail, hold operations pending, or make a deployed model slow or failing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from vxdeploy.emulator.constants import ADMIN_PREFIX
from vxdeploy.emulator.errors import ApiError
from vxdeploy.emulator.faults import ModelFault

if TYPE_CHECKING:
    from vxdeploy.emulator.server import EmulatorServer

PREFIX = ADMIN_PREFIX

Handler = Callable[["EmulatorServer", dict[str, str], bytes], dict[str, Any]]


@dataclass(frozen=True)
class AdminRoute:
    """One admin route: `method` and `path` under PREFIX, what serves it, what it does."""

    method: str
    path: str
    handler: Handler
    description: str


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise ApiError("INVALID_ARGUMENT", f"admin body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise ApiError("INVALID_ARGUMENT", "admin body must be a JSON object")
    return data


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ApiError("INVALID_ARGUMENT", f"expected true or false, got {value!r}")


def handle(server: EmulatorServer, method: str, path: str, query: str,
           raw: bytes) -> dict[str, Any]:
    """Answer one admin call; raise ApiError for bad input or an unknown path."""
    sub = path[len(PREFIX):] or "/"
    route = _BY_KEY.get((method, sub))
    if route is None:
        allowed = "; ".join(f"{r.method} {PREFIX}{r.path} ({r.description})" for r in ROUTES)
        raise ApiError("NOT_FOUND", f"No admin route {method} {path}. Allowed: {allowed}")
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        return route.handler(server, params, raw)
    except (ValueError, TypeError) as error:
        raise ApiError("INVALID_ARGUMENT", str(error)) from error


def _health(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    return {"ok": True, "pid": os.getpid()}


def _info(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    return server.info() | {"servers": server.emu.servers.describe()}


def _requests(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    log = server.emu.requests
    entries = log.query(since=int(params.get("since", 0)), rpc=params.get("rpc"),
                        mutating=_bool(params.get("mutating")))
    return {"requests": entries, "last_seq": log.last_seq}


def _reset(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    server.emu.reset()
    return {"reset": True}


def _faults(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    emu = server.emu
    return emu.faults.snapshot() | {"operations": {"hold": emu.ops.hold,
                                                   "pending_s": emu.ops.min_pending_s}}


def _clear_faults(server: EmulatorServer, params: dict[str, str],
                  raw: bytes) -> dict[str, Any]:
    emu = server.emu
    emu.faults.clear()
    emu.ops.min_pending_s = 0.0
    released = emu.ops.release()
    return {"cleared": True, "released_operations": released}


def _fault_rpc(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    data = _body(raw)
    if not data.get("rpc"):
        raise ApiError("INVALID_ARGUMENT", 'body needs "rpc" (an RPC name such as '
                       '"DeployModel", or "*")')
    fault = server.emu.faults.fail_rpc(str(data["rpc"]), count=int(data.get("count", 1)),
                                       status=data.get("status", "UNAVAILABLE"),
                                       message=data.get("message"))
    return {"rpc": fault.rpc, "remaining": fault.remaining, "status": fault.status}


def _fault_operations(server: EmulatorServer, params: dict[str, str],
                      raw: bytes) -> dict[str, Any]:
    ops = server.emu.ops
    data = _body(raw)
    ops.min_pending_s = float(data.get("pending_s", ops.min_pending_s))
    if "hold" in data:
        ops.hold = bool(data["hold"])
    return {"pending_s": ops.min_pending_s, "hold": ops.hold}


def _release(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    return {"released": server.emu.ops.release()}


def _fault_model(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    data = _body(raw)
    if not data.get("deployed_model_id"):
        raise ApiError("INVALID_ARGUMENT", 'body needs "deployed_model_id"')
    model_fault = ModelFault(str(data["deployed_model_id"]),
                             latency_ms=float(data.get("latency_ms", 0)),
                             http_status=int(data.get("http_status", 0)),
                             fraction=float(data.get("fraction", 1.0)))
    server.emu.faults.set_model(model_fault)
    return {"deployed_model_id": model_fault.deployed_model_id,
            "latency_ms": model_fault.latency_ms,
            "http_status": model_fault.http_status, "fraction": model_fault.fraction}


def _seed(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    seed = _body(raw).get("seed")
    server.emu.rng.seed(seed)
    return {"seed": seed}


def _servers(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    return {"servers": server.emu.servers.describe()}


def _logs(server: EmulatorServer, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    from vxdeploy.emulator.runtime.logs import tail

    lines = int(params.get("lines", 50))
    wanted = params.get("deployed_model_id")
    out = {}
    for entry in server.emu.servers.describe():
        if wanted and entry["deployed_model_id"] != wanted:
            continue
        if entry["log_path"]:
            from pathlib import Path

            out[entry["key"]] = tail(Path(entry["log_path"]), lines)
    if wanted and not out:
        raise ApiError("NOT_FOUND", f"No deployed model {wanted!r} runs on this emulator.")
    return {"logs": out}


# The one table: `handle` dispatches through it and the NOT_FOUND answer lists it (with
# what each route does), so the routes served and the routes named cannot disagree.
ROUTES: tuple[AdminRoute, ...] = (
    AdminRoute("GET", "/health", _health, "liveness"),
    AdminRoute("GET", "/info", _info,
               "rest_url, grpc_target, state_dir, pid and the model servers"),
    AdminRoute("GET", "/requests", _requests,
               "the request log, ?since=SEQ&rpc=NAME&mutating=true|false"),
    AdminRoute("POST", "/reset", _reset,
               "stop all servers, forget all resources, faults and the log"),
    AdminRoute("GET", "/faults", _faults, "the active faults"),
    AdminRoute("DELETE", "/faults", _clear_faults, "clear every fault"),
    AdminRoute("POST", "/faults/rpc", _fault_rpc,
               '{"rpc": "DeployModel"|"*", "count": 1, "status": "UNAVAILABLE"}'),
    AdminRoute("POST", "/faults/operations", _fault_operations,
               '{"pending_s": 2.0} or {"hold": true}'),
    AdminRoute("POST", "/operations/release", _release, "let held operations finish"),
    AdminRoute("POST", "/faults/deployed-models", _fault_model,
               '{"deployed_model_id": "1", "latency_ms": 200, "http_status": 500, '
               '"fraction": 0.5}'),
    AdminRoute("POST", "/seed", _seed, '{"seed": 7}: reseed the traffic-split random source'),
    AdminRoute("GET", "/servers", _servers, "the running model servers"),
    AdminRoute("GET", "/logs", _logs,
               "?deployed_model_id=ID&lines=50: a model server's log tail"),
)
_BY_KEY = {(route.method, route.path): route for route in ROUTES}
