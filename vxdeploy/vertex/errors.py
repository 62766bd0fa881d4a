"""Making sense of API failures: canonical status, retries, and user-facing errors.

Over REST the client picks its exception class from the HTTP status alone: 409 is
`Conflict` for both ALREADY_EXISTS and ABORTED, 400 is `BadRequest` for both
INVALID_ARGUMENT and FAILED_PRECONDITION. The canonical status is in the response body,
so that is what the tool branches on.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from vxdeploy.errors import ConflictError, InvalidInputError, NotFoundError, VxError

T = TypeVar("T")
RETRYABLE_HTTP = (429, 500, 502, 503, 504)
RETRYABLE_STATUS = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "INTERNAL")


def canonical_status(error: BaseException) -> str:
    """`NOT_FOUND`, `ABORTED`, `ALREADY_EXISTS`… from the error body, else from the class."""
    response = getattr(error, "response", None)
    if response is not None:
        try:
            status = response.json().get("error", {}).get("status")
            if status:
                return str(status)
        except Exception:  # body not JSON: fall back to the class's code
            pass
    grpc_status = getattr(error, "grpc_status_code", None)
    if grpc_status is not None:
        return str(grpc_status.name)
    code = getattr(error, "code", None)
    name = getattr(code, "name", None)
    return str(name) if name else type(error).__name__.upper()


def http_status(error: BaseException) -> int | None:
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else getattr(code, "value", None)


def is_retryable(error: BaseException) -> bool:
    from google.api_core import exceptions as gexc

    if isinstance(error, gexc.GoogleAPICallError):
        return (http_status(error) in RETRYABLE_HTTP
                or canonical_status(error) in RETRYABLE_STATUS)
    return isinstance(error, ConnectionError)


def with_retries(call: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.5,
                 max_delay: float = 8.0, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `call`, retrying 429/5xx with jittered exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt == attempts or not is_retryable(error):
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1))
            sleep(delay * (0.5 + random.random() / 2))
    raise AssertionError("unreachable")


# google.api_core writes REST failures as "GET https://host/v1/NAME?%24alt=json%3B…: text".
_TRANSPORT_URL = re.compile(r"^([A-Z]+) https?://[^/\s]+/(?:v1(?:beta1)?/)?(\S*?)(?:\?\S*)?: ")


def without_transport_url(message: str) -> str:
    """`GET projects/p/…/endpoints/e: text`: the method and resource, not the transport URL
    with its query string, which only shows how the client library talks."""
    return _TRANSPORT_URL.sub(lambda m: f"{m.group(1)} {unquote(m.group(2))}: ", message, count=1)


def translate(error: BaseException, what: str) -> VxError:
    """A VxError with a stable exit code for an API failure while doing `what`."""
    status = canonical_status(error)
    message = without_transport_url(getattr(error, "message", None) or str(error))
    text = f"{what}: {status}: {message}"
    if status == "NOT_FOUND":
        return NotFoundError(text)
    if status in ("ABORTED", "ALREADY_EXISTS"):
        return ConflictError(text, hint="someone else changed this resource; run the command "
                             "again to re-plan against the new state")
    if status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return InvalidInputError(text)
    return VxError(text)


def call_api(what: str, call: Callable[[], T], **retry: Any) -> T:
    """Retry transient failures, then turn any API error into a VxError naming `what`."""
    from google.api_core import exceptions as gexc

    try:
        return with_retries(call, **retry)
    except gexc.GoogleAPICallError as error:
        raise translate(error, what) from error
