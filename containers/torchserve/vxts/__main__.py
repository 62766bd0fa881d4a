"""`python -m vxts`: the container's entry point (and the emulator's process command)."""

from __future__ import annotations

import sys


def main() -> int:
    from vxserve.asgi import run

    from .front import create_app
    from .settings import TorchServeSettings

    return run("vxts", TorchServeSettings.from_env, create_app)


if __name__ == "__main__":
    sys.exit(main())
