"""Put the TorchServe container's packages on sys.path, as its image and the emulator do."""

from __future__ import annotations

import sys

from ..serverproc import CONTAINERS

for path in (CONTAINERS / "common", CONTAINERS / "torchserve"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
