"""`python -m vxts`: the container's entry point (and the emulator's process command)."""

from __future__ import annotations

import logging
import socket
import sys


def main() -> int:
    import uvicorn
    from vxserve.errors import ConfigError

    from .front import create_app
    from .settings import TorchServeSettings

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = TorchServeSettings.from_env()
    except ConfigError as exc:
        print(f"vxts: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        listener = _listen(settings.serve.http_port)
    except OSError as exc:
        # strerror keeps the kernel's wording ("Address already in use"), which process
        # supervisors (the emulator) look for to retry on another port.
        print(f"vxts: cannot listen on 0.0.0.0:{settings.serve.http_port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="0.0.0.0",
        port=settings.serve.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(settings.serve.drain_timeout_s) or None,
        timeout_keep_alive=75,  # longer than typical load-balancer idle timeouts
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def _listen(port: int) -> socket.socket:
    """Bind before loading anything, so a taken port fails in milliseconds, not after the JVM."""
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto is TCP, and a socket made with proto 0 costs ~40 ms per response (delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    sys.exit(main())
