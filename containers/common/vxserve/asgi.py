"""Running an ASGI server the way every bundled container needs it.

Shared by the PyTorch server (`python -m vxserve`, the `flask` container), the TorchServe
front (`vxts`) and the TensorRT server (`vxtrt`): bind the port before loading anything (a
taken port fails in milliseconds, with the kernel's wording the emulator looks for to retry
elsewhere), keep Nagle off, and on SIGTERM drain: new predictions and health answer 503,
in-flight ones finish, then the server stops and exits 0. uvicorn parses HTTP with
httptools on uvloop when they are installed (the containers install both): per request
that costs ~0.1 ms of CPU where Flask on gunicorn's threads cost ~1.3 ms.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from .config import ServeConfig
from .errors import ConfigError, PayloadTooLarge


class HasServe(Protocol):
    serve: ServeConfig


def listen(port: int, host: str = "0.0.0.0") -> socket.socket:
    """Bind `host`:`port` now; the server accepts on it later."""
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto is TCP, and a socket made with proto 0 costs ~40 ms per response (delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run(name: str, load_settings: Callable[[], HasServe],
        create_app: Callable[[Any], Any]) -> int:
    """Load settings, bind, serve until SIGTERM; the exit code for `sys.exit`."""
    import uvicorn

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("vxserve").setLevel(logging.INFO)  # model ready, batching, drain
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    port = settings.serve.http_port
    host = settings.serve.http_host
    try:
        listener = listen(port, host)
    except OSError as exc:
        print(f"{name}: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    app = create_app(settings)
    http, loop = parsers()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        loop=loop,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(settings.serve.drain_timeout_s) or None,
        timeout_keep_alive=75,  # longer than typical load-balancer idle timeouts
    )
    logging.getLogger("vxserve").info("%s serving on %s:%d (http %s, loop %s)",
                                      name, host, port, http, loop)
    service = getattr(getattr(app, "state", None), "service", None)
    _draining_server(uvicorn.Server, service)(config).run(sockets=[listener])
    return 0


def parsers() -> tuple[str, str]:
    """uvicorn's HTTP parser and event loop: the C ones when installed.

    The bundled images install httptools and uvloop; a custom base image without them
    still serves, on h11 and asyncio, at several times the CPU per request.
    """
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return http, loop


def _draining_server(base: type, service: Any) -> type:
    """uvicorn's Server, except that SIGTERM first drains `service` (when there is one).

    uvicorn alone stops accepting at once, so a request arriving during the drain found
    the port closed instead of a 503 that tells Vertex (and a load balancer) to go
    elsewhere; it also re-raised SIGTERM at exit, so a clean drain exited -15.
    """

    class DrainingServer(base):  # type: ignore[misc,valid-type]
        draining = False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if service is None or sig != signal.SIGTERM:
                super().handle_exit(sig, frame)
                return
            if not self.draining:
                self.draining = True
                service.drain_then(self._stop_serving)

        def _stop_serving(self) -> None:
            self.should_exit = True

    return DrainingServer


async def read_limited(request: Any, limit: int) -> bytes:
    """A Starlette request's body, refused (413) as soon as it is over `limit` bytes rather
    than after reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body is {int(declared)} bytes; the limit is {limit} (VXSERVE_MAX_BODY_BYTES)"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over {limit} bytes (VXSERVE_MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)
