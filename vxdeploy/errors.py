"""Errors that carry a stable process exit code.

CI pipelines branch on exit codes, so every failure the tool can explain maps to one of
the documented codes below and they never change meaning between releases.
"""

from __future__ import annotations

import re
import sys
from enum import IntEnum
from urllib.parse import urlsplit


class ExitCode(IntEnum):
    """Documented, stable exit codes (see docs/exit-codes.md)."""

    OK = 0
    ERROR = 1  # an API call or runtime failure not covered below
    INVALID_INPUT = 2  # bad profile, traffic string, instances file or CLI usage
    NOT_FOUND = 3  # the profile's endpoint or model does not exist yet
    CONFLICT = 4  # someone else changed the endpoint (stale etag): re-plan
    TIMEOUT = 5  # a long-running operation passed its deadline
    ROLLED_BACK = 6  # a rollout gate failed and traffic went back to stable
    DECLINED = 7  # the user answered "no" at a confirmation prompt
    ENGINE_UNAVAILABLE = 8  # no Docker engine / emulator could be reached


class VxError(Exception):
    """A failure with a message meant for the user and a stable exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "error": type(self).__name__,
            "message": self.message,
            "exit_code": int(self.exit_code),
        }
        if self.hint:
            body["hint"] = self.hint
        return body


class InvalidInputError(VxError):
    exit_code = ExitCode.INVALID_INPUT


class NotFoundError(VxError):
    exit_code = ExitCode.NOT_FOUND


class ConflictError(VxError):
    exit_code = ExitCode.CONFLICT


class OperationTimeoutError(VxError):
    exit_code = ExitCode.TIMEOUT


class RolledBackError(VxError):
    exit_code = ExitCode.ROLLED_BACK


class DeclinedError(VxError):
    exit_code = ExitCode.DECLINED


class EngineUnavailableError(VxError):
    exit_code = ExitCode.ENGINE_UNAVAILABLE


class ApiUnreachableError(EngineUnavailableError):
    """The API (the local emulator or Vertex) did not answer at all: nothing was refused."""


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _connection_failure(error: BaseException) -> str | None:
    """The address a connection failed to, ("" when unknown), or None if `error` is not one.

    Checks the types of the libraries that are loaded only, so the CLI's error path never
    imports requests or gRPC itself.
    """
    requests_exc = sys.modules.get("requests.exceptions")
    if requests_exc is not None and isinstance(error, requests_exc.ConnectionError):
        request = getattr(error, "request", None)
        return str(getattr(request, "url", "") or "")
    auth_exc = sys.modules.get("google.auth.exceptions")
    if auth_exc is not None and isinstance(error, auth_exc.TransportError):
        return ""
    core_exc = sys.modules.get("google.api_core.exceptions")
    if core_exc is not None and isinstance(error, core_exc.ServiceUnavailable) \
            and "failed to connect" in str(error).lower():
        # gRPC (Cloud Monitoring): the channel never connected
        found = re.search(r"ipv[46]:([^\s,;]+:\d+)", str(error))
        return f"grpc://{found.group(1)}" if found else ""
    if isinstance(error, ConnectionRefusedError):
        return ""
    return None


def unreachable(error: BaseException) -> ApiUnreachableError | None:
    """An ApiUnreachableError when `error` (or what caused it) is a failed connection.

    Exit code 8 with one line and what to do, instead of the transport's traceback: a CI
    job or a person can tell "the API went away" from "the API said no".
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        where = _connection_failure(current)
        if where is not None:
            return _unreachable_error(where)
        current = current.__cause__ or current.__context__
    return None


def _unreachable_error(url: str) -> ApiUnreachableError:
    parts = urlsplit(url) if url else None
    address = f"{parts.scheme}://{parts.netloc}" if parts and parts.netloc else ""
    host = (parts.hostname or "") if parts else ""
    rerun = ("run the same command again: it picks up where this one stopped (a re-run of "
             "`deploy` plans only what is left)")
    if host in _LOOPBACK:
        return ApiUnreachableError(
            f"the local emulator at {address} stopped answering",
            hint=f"{rerun}; it starts the emulator again. Its log: `vxdeploy local logs`")
    where = f" at {address}" if address else ""
    return ApiUnreachableError(f"cannot reach the API{where}: the connection failed",
                               hint=f"check the network (or proxy) and {rerun}")
