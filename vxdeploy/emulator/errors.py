"""Errors shaped exactly as Vertex sends them over REST.

The REST clients pick their exception class from the HTTP status alone and callers read the
canonical code from `error.status`, so both must match what Google's front end sends.
"""

from __future__ import annotations

from typing import Any

# canonical status name -> (gRPC code, HTTP status), as google.rpc.Code maps them over HTTP.
STATUS_CODES: dict[str, tuple[int, int]] = {
    "OK": (0, 200),
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}

# HTTP status -> the canonical status a bare HTTP error (e.g. from a model server) maps to.
_HTTP_TO_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


def status_for_http(http_status: int) -> str:
    """The canonical status name Google's front end uses for an HTTP status."""
    if http_status in _HTTP_TO_STATUS:
        return _HTTP_TO_STATUS[http_status]
    if 400 <= http_status < 500:
        return "FAILED_PRECONDITION"
    return "UNKNOWN" if http_status < 500 else "INTERNAL"


def parse_status(value: str | int) -> str:
    """Accept a status name ("UNAVAILABLE"), a gRPC code (14) or an HTTP status (503)."""
    if isinstance(value, str) and not value.isdigit():
        name = value.upper()
        if name not in STATUS_CODES:
            raise ValueError(f"unknown status {value!r}; allowed: {', '.join(STATUS_CODES)}")
        return name
    number = int(value)
    if number >= 100:
        return status_for_http(number)
    for name, (code, _http) in STATUS_CODES.items():
        if code == number:
            return name
    raise ValueError(f"unknown gRPC code {value!r}; allowed: 0-16 or an HTTP status")


class ApiError(Exception):
    """A Vertex API error: canonical status, message and google.rpc details."""

    def __init__(self, status: str, message: str, *, details: list[dict[str, Any]] | None = None,
                 http_status: int | None = None):
        super().__init__(message)
        if status not in STATUS_CODES:
            raise ValueError(f"unknown status {status}")
        self.status = status
        self.message = message
        self.details = details or []
        self.code, default_http = STATUS_CODES[status]
        self.http_status = http_status or default_http

    def to_json(self) -> dict[str, Any]:
        """The REST error body: `{"error": {code, message, status, details}}`."""
        body: dict[str, Any] = {"code": self.http_status, "message": self.message,
                                "status": self.status}
        if self.details:
            body["details"] = self.details
        return {"error": body}

    def to_rpc_status(self) -> dict[str, Any]:
        """The google.rpc.Status JSON an Operation's `error` carries (gRPC code, not HTTP)."""
        return {"code": self.code, "message": self.message}


def invalid(message: str, field: str | None = None) -> ApiError:
    """INVALID_ARGUMENT with a BadRequest field violation naming the field, as Vertex does."""
    details = []
    if field:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": message}]})
    return ApiError("INVALID_ARGUMENT", message, details=details)


def bad_field(field: str, description: str) -> ApiError:
    """INVALID_ARGUMENT for a malformed id or name, in the shape Vertex's request validation
    uses: `List of found errors:\t1.Field: F; Message: M\t` plus a BadRequest violation."""
    return ApiError("INVALID_ARGUMENT",
                    f"List of found errors:\t1.Field: {field}; Message: {description}\t",
                    details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                              "fieldViolations": [{"field": field,
                                                   "description": description}]}])


def not_found(resource: str, kind: str = "Resource") -> ApiError:
    return ApiError("NOT_FOUND", f'{kind} "{resource}" not found.',
                    details=[{"@type": "type.googleapis.com/google.rpc.ResourceInfo",
                              "resourceName": resource, "description": "not found"}])


def failed_precondition(message: str) -> ApiError:
    return ApiError("FAILED_PRECONDITION", message)
