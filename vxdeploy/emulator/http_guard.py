"""Who may talk to the emulator: local programs, never a web page.

A page in the user's browser can send a "simple" cross-site request (POST with
`Content-Type: text/plain`, no preflight) to any loopback port, and DNS rebinding lets a
page on a foreign name reach 127.0.0.1 with its own `Host`. The emulator uploads models
and starts model servers, so it refuses both the way local developer servers do:

- the `Host` must name loopback (127.0.0.1, ::1, localhost), with the bound port if any;
- an `Origin` (browsers send one on every cross-site POST) must be a loopback origin;
- a request body must be JSON, so a browser has to preflight, and the emulator answers
  no CORS (an `OPTIONS` preflight is refused), so the preflight fails.

gcloud, the GAPIC REST clients, the high-level SDK and the admin client send a loopback
`Host`, no `Origin` and JSON bodies, so they are not affected. rawPredict carries the
caller's own content type (an HttpBody), so only it may send a non-JSON body.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit

from vxdeploy.emulator.errors import ApiError

LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost"})
_JSON_TYPES = ("application/json",)


class Headers(Protocol):
    """Request headers looked up case-insensitively (http.server's `Message` does)."""

    def get(self, name: str, default: Any = None, /) -> Any: ...


def _split_host(value: str) -> tuple[str, int | None] | None:
    """`host[:port]` or `[v6]:port` → (host, port); None when it cannot be parsed."""
    try:
        parts = urlsplit(f"//{value.strip()}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def _is_loopback(value: str, port: int) -> bool:
    parsed = _split_host(value)
    if parsed is None:
        return False
    host, given_port = parsed
    return host in LOOPBACK_NAMES and given_port in (None, port)


def _origin_is_loopback(origin: str) -> bool:
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in LOOPBACK_NAMES


def refusal(method: str, headers: Headers, *, port: int, body_length: int,
            raw_body_allowed: bool = False) -> ApiError | None:
    """The error to answer instead of serving this request, or None to serve it."""
    host = headers.get("Host")
    if host is None or not _is_loopback(host, port):
        return ApiError("PERMISSION_DENIED",
                        f"Host {host!r} is not allowed: the local emulator answers only "
                        f"requests addressed to 127.0.0.1:{port}, [::1]:{port} or "
                        f"localhost:{port}.", http_status=403)
    origin = headers.get("Origin")
    if origin is not None and not _origin_is_loopback(origin):
        return ApiError("PERMISSION_DENIED",
                        f"Origin {origin!r} is not allowed: the local emulator refuses "
                        "requests from web pages; only loopback origins may call it.",
                        http_status=403)
    if headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return ApiError("PERMISSION_DENIED", "Cross-site requests are refused by the local "
                        "emulator.", http_status=403)
    if method == "OPTIONS":
        return ApiError("PERMISSION_DENIED", "The local emulator answers no CORS preflight: "
                        "it is not reachable from web pages.", http_status=403)
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    json_body = content_type in _JSON_TYPES or content_type.endswith("+json")
    if raw_body_allowed:
        return None
    if (body_length > 0 and not json_body) or (content_type and not json_body):
        return ApiError("INVALID_ARGUMENT",
                        f"Content-Type {content_type or '(none)'!r} is not accepted: request "
                        "bodies must be application/json.", http_status=415)
    return None
