"""Compiled artifacts on the Flask server: an AOTInductor package, and torch.compile at
start-up whose kernels come from the cache `vxdeploy package --compile compile` filled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..compiled_model import CompiledArtifacts, assert_predictions_equal_eager
from ..compiled_server import compiled_servers
from ..serverproc import ServerProc


@pytest.fixture(scope="module")
def servers(compiled_artifacts: CompiledArtifacts,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProc]]:
    with compiled_servers("flask", compiled_artifacts,
                          tmp_path_factory.mktemp("flask-compiled")) as running:
        yield running


@pytest.mark.parametrize("mode", ["aoti", "compile"])
def test_compiled_artifacts_predict_like_eager(mode: str, servers: dict[str, ServerProc],
                                               compiled_artifacts: CompiledArtifacts) -> None:
    assert_predictions_equal_eager(servers[mode].url, "/predict", compiled_artifacts.eager)


def test_compile_at_start_up_hits_the_packaged_cache(servers: dict[str, ServerProc]) -> None:
    log = servers["compile"].log()
    assert "torch.compile: TinyClassifier, batch dimension dynamic" in log, log
    assert ": cache hit (FX graph cache 2 hit / 0 miss" in log, log
