"""Errors that carry a stable process exit code.

CI pipelines branch on exit codes, so every failure the tool can explain maps to one of
the documented codes below and they never change meaning between releases.
"""

from __future__ import annotations

from enum import IntEnum


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
