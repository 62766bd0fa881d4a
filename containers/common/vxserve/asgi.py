"""Running an ASGI server the way every bundled ASGI container needs it.

Shared by the TorchServe front (`vxts`) and the TensorRT server (`vxtrt`): bind the port
before loading anything (a taken port fails in milliseconds, with the kernel's wording the
emulator looks for to retry elsewhere), keep Nagle off, drain on SIGTERM.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
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
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(settings.serve.drain_timeout_s) or None,
        timeout_keep_alive=75,  # longer than typical load-balancer idle timeouts
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


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
