"""Compiled artifacts on the TorchServe container: an AOTInductor package, and torch.compile
at start-up from the cache `vxdeploy package --compile compile` filled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..compiled_model import assert_predictions_equal_eager, packaged
from ..serverproc import ServerProc, start


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return packaged(tmp_path_factory.mktemp("compiled-artifacts"))


@pytest.fixture(scope="module")
def servers(built: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProc]]:
    work = tmp_path_factory.mktemp("ts-compiled")
    common = {"VXSERVE_CACHE_DIR": str(work / "cache"), "VXSERVE_TORCH_THREADS": "1",
              "VXSERVE_TS_READY_TIMEOUT_S": "200",
              "VXSERVE_COMPILE_CACHE_DIR": str(built["cache"])}
    running = {mode: start("torchserve", {**common, "AIP_STORAGE_URI": str(built[mode])},
                           work / f"{mode}.log") for mode in ("aoti", "compile")}
    try:
        for server in running.values():
            server.wait_ready(timeout_s=240)
        yield running
    finally:
        for server in running.values():
            server.terminate(group=True)


@pytest.mark.parametrize("mode", ["aoti", "compile"])
def test_compiled_artifacts_predict_like_eager(mode: str, servers: dict[str, ServerProc],
                                               built: dict[str, Path]) -> None:
    assert_predictions_equal_eager(servers[mode].url, "/predict", built["eager"])
