"""`python -m vxtrt`: the container's entry point (and the emulator's process command)."""

from __future__ import annotations

import sys


def main() -> int:
    from vxserve.asgi import run

    from .app import create_app
    from .settings import TrtSettings

    return run("vxtrt", TrtSettings.from_env, create_app)


if __name__ == "__main__":
    sys.exit(main())
