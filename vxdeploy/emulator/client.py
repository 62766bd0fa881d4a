"""A small client for the admin surface, for tests in every part and for scripts.

    admin = EmulatorAdmin(rest_url)
    seq = admin.last_seq()
    ...  # run a command
    assert admin.requests(since=seq, mutating=True) == []
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from vxdeploy.emulator.constants import ADMIN_PREFIX


class EmulatorAdminError(RuntimeError):
    pass


class EmulatorAdmin:
    def __init__(self, rest_url: str, timeout: float = 10.0):
        self.rest_url = rest_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              query: dict[str, Any] | None = None) -> Any:
        url = f"{self.rest_url}{ADMIN_PREFIX}/{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body or {}).encode() if method != "GET" else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise EmulatorAdminError(f"{method} {url}: {error.code} "
                                     f"{error.read().decode(errors='replace')}") from error

    def info(self) -> dict[str, Any]:
        return _obj(self._call("GET", "info"))

    def requests(self, *, since: int = 0, rpc: str | None = None,
                 mutating: bool | None = None) -> list[dict[str, Any]]:
        """Logged API calls after sequence number `since`."""
        query = {"since": since, "rpc": rpc,
                 "mutating": None if mutating is None else str(mutating).lower()}
        return _objs(self._call("GET", "requests", query=query)["requests"])

    def last_seq(self) -> int:
        return int(self._call("GET", "requests", query={"since": 1 << 62})["last_seq"])

    def reset(self) -> None:
        self._call("POST", "reset")

    def fail_rpc(self, rpc: str, *, count: int = 1, status: str | int = "UNAVAILABLE",
                 message: str | None = None) -> dict[str, Any]:
        body = {"rpc": rpc, "count": count, "status": status}
        if message:
            body["message"] = message
        return _obj(self._call("POST", "faults/rpc", body))

    def delay_operations(self, pending_s: float) -> dict[str, Any]:
        return _obj(self._call("POST", "faults/operations", {"pending_s": pending_s}))

    def hold_operations(self, hold: bool = True) -> dict[str, Any]:
        return _obj(self._call("POST", "faults/operations", {"hold": hold}))

    def release_operations(self) -> int:
        return int(self._call("POST", "operations/release")["released"])

    def fault_deployed_model(self, deployed_model_id: str, *, latency_ms: float = 0,
                             http_status: int = 0, fraction: float = 1.0) -> dict[str, Any]:
        return _obj(self._call("POST", "faults/deployed-models", {
            "deployed_model_id": deployed_model_id, "latency_ms": latency_ms,
            "http_status": http_status, "fraction": fraction}))

    def clear_faults(self) -> dict[str, Any]:
        return _obj(self._call("DELETE", "faults"))

    def seed(self, seed: int) -> None:
        self._call("POST", "seed", {"seed": seed})

    def servers(self) -> list[dict[str, Any]]:
        return _objs(self._call("GET", "servers")["servers"])

    def logs(self, deployed_model_id: str | None = None, lines: int = 50) -> dict[str, str]:
        logs = self._call("GET", "logs", query={"deployed_model_id": deployed_model_id,
                                                "lines": lines})["logs"]
        return {str(key): str(value) for key, value in logs.items()}


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object answered by the admin surface (checked, so a wrong shape fails here)."""
    if not isinstance(value, dict):
        raise EmulatorAdminError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _objs(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise EmulatorAdminError(f"expected a JSON list, got {type(value).__name__}")
    return [_obj(item) for item in value]
