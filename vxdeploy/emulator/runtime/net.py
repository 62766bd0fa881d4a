"""Ports and health checks shared by the runtimes."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free now (another process may take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def health_status(host: str, port: int, route: str, timeout_s: float = 2.0) -> int | None:
    """HTTP status of GET route, or None when nothing answers."""
    return health_answer(host, port, route, timeout_s)[0]


def health_answer(host: str, port: int, route: str,
                  timeout_s: float = 2.0) -> tuple[int | None, bytes]:
    """(HTTP status, body) of GET route; (None, b"") when nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", route)
        response = conn.getresponse()
        return response.status, response.read(_MAX_HEALTH_BODY)
    except (OSError, http.client.HTTPException):
        return None, b""
    finally:
        conn.close()


_MAX_HEALTH_BODY = 64 * 1024


def failed_load(body: bytes) -> str | None:
    """The reason when a health body says the model failed to load for good, else None.

    The bundled servers stay up after a failed load and answer health 503 with
    `{"status": "failed", "error": ...}`; waiting longer cannot make them ready.
    """
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("status") != "failed":
        return None
    return str(document.get("error") or "no reason given")


def wait_healthy(
    host: str,
    port: int,
    route: str,
    *,
    deadline_s: float,
    exited: Callable[[], str | None],
    interval_s: float = 0.1,
) -> tuple[bool, str]:
    """Poll the health route until it answers 200, the server exits, or time runs out.

    `exited()` returns why the server is gone (or None while it runs), so a crash is
    reported at once instead of after the whole ready timeout; so is a health answer that
    says the load failed for good (`failed_load`).
    Returns (healthy, reason-when-not).
    """
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while True:
        gone = exited()
        if gone is not None:
            return False, gone
        status, body = health_answer(host, port, route)
        if status == 200:
            return True, ""
        failure = failed_load(body) if status is not None else None
        if failure is not None:
            return False, f"the server reports that the model failed to load: {failure}"
        if status is not None:
            last = f"last answer HTTP {status}"
        if time.monotonic() >= deadline:
            return False, f"not healthy after {deadline_s:g}s ({last} from GET {route})"
        time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))
        interval_s = min(interval_s * 1.5, 1.0)
