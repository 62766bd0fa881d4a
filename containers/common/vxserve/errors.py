"""Errors a serving request can end in, each with the HTTP status it answers.

Every server built on vxserve (Flask, TorchServe handlers, the ONNX Runtime server) maps
failures the same way, so a client sees one contract: the user's mistakes are 4xx with a
message that names what is wrong, pressure is 429/503 (retryable), and only a failure of
the model itself on valid input is a 500.
"""

from __future__ import annotations

from typing import Any

#: The 400 message for JSON nested past the parser's recursion limit (~100 KB of "[").
NESTED_TOO_DEEPLY = (
    "request body is nested too deeply to parse; instances are arrays of a few dimensions"
)


class ServeError(Exception):
    """Base class: a failure with an HTTP status and a canonical Google-style status name."""

    http_status: int = 500
    status: str = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_body(self) -> dict[str, Any]:
        """The JSON error body, shaped like Google API errors so clients parse one format."""
        return {"error": {"code": self.http_status, "status": self.status, "message": self.message}}


class InvalidInput(ServeError):
    """The request is wrong (not JSON, no instances, wrong shape or dtype): 400."""

    http_status = 400
    status = "INVALID_ARGUMENT"


class PayloadTooLarge(ServeError):
    """The body is over VXSERVE_MAX_BODY_BYTES: 413."""

    http_status = 413
    status = "INVALID_ARGUMENT"


class Overloaded(ServeError):
    """The batch queue is full; the client should back off and retry: 429."""

    http_status = 429
    status = "RESOURCE_EXHAUSTED"


class Unavailable(ServeError):
    """The model is still loading or the server is draining: 503 (retry elsewhere)."""

    http_status = 503
    status = "UNAVAILABLE"


class OutOfMemory(ServeError):
    """The accelerator ran out of memory for this batch; the server lives on: 503."""

    http_status = 503
    status = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(ServeError):
    """The prediction did not finish within VXSERVE_PREDICT_TIMEOUT_S: 504."""

    http_status = 504
    status = "DEADLINE_EXCEEDED"


class ModelFailure(ServeError):
    """The model or handler raised on input that passed validation: 500."""

    http_status = 500
    status = "INTERNAL"


class ConfigError(ValueError):
    """A VXSERVE_*/AIP_* variable or an artifact manifest is wrong; raised at startup."""
