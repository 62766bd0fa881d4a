"""Put the TensorRT container's packages on sys.path, as its image and the emulator do."""

from __future__ import annotations

import sys

import pytest

from ..serverproc import CONTAINERS

for path in (CONTAINERS / "common", CONTAINERS / "tensorrt"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(scope="session")
def trt_cache(tmp_path_factory: pytest.TempPathFactory):
    """One ONNX/engine cache for the session: the export tests fill it, the servers reuse it
    (as an image's cache volume would), which also keeps the slow .pt2 export to once."""
    return tmp_path_factory.mktemp("vxtrt-cache")
