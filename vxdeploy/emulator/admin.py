"""The operator and test surface under `/_emulator/`: request log, reset, fault injection.

Plain JSON over HTTP, so tests in any part (and curl) can count mutating calls, make the
next DeployModel fail, hold operations pending, or make a deployed model slow or failing.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from vxdeploy.emulator.constants import ADMIN_PREFIX
from vxdeploy.emulator.errors import ApiError
from vxdeploy.emulator.faults import ModelFault

if TYPE_CHECKING:
    from vxdeploy.emulator.server import EmulatorServer

PREFIX = ADMIN_PREFIX

ROUTES = {
    ("GET", "/health"): "liveness",
    ("GET", "/info"): "rest_url, grpc_target, state_dir, pid and the model servers",
    ("GET", "/requests"): "request log; ?since=SEQ&rpc=NAME&mutating=true|false",
    ("POST", "/reset"): "stop all servers, forget all resources, faults and the log",
    ("GET", "/faults"): "the active faults",
    ("DELETE", "/faults"): "clear every fault",
    ("POST", "/faults/rpc"): '{"rpc": "DeployModel"|"*", "count": 1, "status": "UNAVAILABLE"}',
    ("POST", "/faults/operations"): '{"pending_s": 2.0} or {"hold": true}',
    ("POST", "/operations/release"): "let held operations finish",
    ("POST", "/faults/deployed-models"):
        '{"deployed_model_id": "1", "latency_ms": 200, "http_status": 500, "fraction": 0.5}',
    ("POST", "/seed"): '{"seed": 7}: reseed the traffic-split random source',
    ("GET", "/servers"): "the running model servers",
    ("GET", "/logs"): "?deployed_model_id=ID&lines=50: a model server's log tail",
}


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
    emu = server.emu
    sub = path[len(PREFIX):] or "/"
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        if (method, sub) == ("GET", "/health"):
            return {"ok": True, "pid": os.getpid()}
        if (method, sub) == ("GET", "/info"):
            return server.info() | {"servers": emu.servers.describe()}
        if (method, sub) == ("GET", "/requests"):
            entries = emu.requests.query(since=int(params.get("since", 0)),
                                         rpc=params.get("rpc"),
                                         mutating=_bool(params.get("mutating")))
            return {"requests": entries, "last_seq": emu.requests.last_seq}
        if (method, sub) == ("POST", "/reset"):
            emu.reset()
            return {"reset": True}
        if (method, sub) == ("GET", "/faults"):
            return emu.faults.snapshot() | {"operations": {"hold": emu.ops.hold,
                                                           "pending_s": emu.ops.min_pending_s}}
        if (method, sub) == ("DELETE", "/faults"):
            emu.faults.clear()
            emu.ops.min_pending_s = 0.0
            released = emu.ops.release()
            return {"cleared": True, "released_operations": released}
        if (method, sub) == ("POST", "/faults/rpc"):
            data = _body(raw)
            if not data.get("rpc"):
                raise ApiError("INVALID_ARGUMENT", 'body needs "rpc" (an RPC name such as '
                               '"DeployModel", or "*")')
            fault = emu.faults.fail_rpc(str(data["rpc"]), count=int(data.get("count", 1)),
                                        status=data.get("status", "UNAVAILABLE"),
                                        message=data.get("message"))
            return {"rpc": fault.rpc, "remaining": fault.remaining, "status": fault.status}
        if (method, sub) == ("POST", "/faults/operations"):
            data = _body(raw)
            emu.ops.min_pending_s = float(data.get("pending_s", emu.ops.min_pending_s))
            if "hold" in data:
                emu.ops.hold = bool(data["hold"])
            return {"pending_s": emu.ops.min_pending_s, "hold": emu.ops.hold}
        if (method, sub) == ("POST", "/operations/release"):
            return {"released": emu.ops.release()}
        if (method, sub) == ("POST", "/faults/deployed-models"):
            data = _body(raw)
            if not data.get("deployed_model_id"):
                raise ApiError("INVALID_ARGUMENT", 'body needs "deployed_model_id"')
            model_fault = ModelFault(str(data["deployed_model_id"]),
                                     latency_ms=float(data.get("latency_ms", 0)),
                                     http_status=int(data.get("http_status", 0)),
                                     fraction=float(data.get("fraction", 1.0)))
            emu.faults.set_model(model_fault)
            return {"deployed_model_id": model_fault.deployed_model_id,
                    "latency_ms": model_fault.latency_ms,
                    "http_status": model_fault.http_status, "fraction": model_fault.fraction}
        if (method, sub) == ("POST", "/seed"):
            seed = _body(raw).get("seed")
            emu.rng.seed(seed)
            return {"seed": seed}
        if (method, sub) == ("GET", "/servers"):
            return {"servers": emu.servers.describe()}
        if (method, sub) == ("GET", "/logs"):
            return _logs(server, params)
    except (ValueError, TypeError) as error:
        raise ApiError("INVALID_ARGUMENT", str(error)) from error
    allowed = "; ".join(f"{m} {PREFIX}{p}" for m, p in ROUTES)
    raise ApiError("NOT_FOUND", f"No admin route {method} {path}. Allowed: {allowed}")


def _logs(server: EmulatorServer, params: dict[str, str]) -> dict[str, Any]:
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
