"""Compiled artifacts on the tensorrt container's CPU backend (ONNX Runtime): an AOTInductor
package is served from the torch.export program packaged beside it, and a package without
one is refused with a message that says what to add."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..compiled_model import CompiledArtifacts, assert_predictions_equal_eager
from ..compiled_server import compiled_servers
from ..serverproc import ServerProc


@pytest.fixture(scope="module")
def servers(compiled_artifacts: CompiledArtifacts,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProc]]:
    with compiled_servers("tensorrt", compiled_artifacts,
                          tmp_path_factory.mktemp("trt-compiled")) as running:
        yield running


@pytest.mark.parametrize("mode", ["aoti", "compile"])
def test_compiled_artifacts_predict_like_eager(mode: str, servers: dict[str, ServerProc],
                                               compiled_artifacts: CompiledArtifacts) -> None:
    assert_predictions_equal_eager(servers[mode].url, "/predict", compiled_artifacts.eager)


def test_aoti_package_is_served_from_its_export_program(servers: dict[str, ServerProc]) -> None:
    assert "vxtrt exports ONNX from its torch.export program model.export.pt2" in \
        servers["aoti"].log()


def test_aoti_package_without_export_program_names_the_missing_field(
        compiled_artifacts: CompiledArtifacts, tmp_path: Path) -> None:
    import sys

    from vxtrt.prebuild import main  # noqa: F401 - same loader as the server

    bare = tmp_path / "bare"
    shutil.copytree(compiled_artifacts.aoti, bare)  # changed below: a copy
    manifest = json.loads((bare / "vxserve.json").read_text())
    manifest.pop("export_file")
    (bare / "vxserve.json").write_text(json.dumps(manifest))
    (bare / "model.export.pt2").unlink()
    import subprocess

    from ..serverproc import CONTAINERS

    done = subprocess.run(
        [sys.executable, "-m", "vxtrt.prebuild", str(bare)], capture_output=True, text=True,
        timeout=120, env={"PYTHONPATH": f"{CONTAINERS / 'tensorrt'}:{CONTAINERS / 'common'}",
                          "VXSERVE_TRT_CACHE_DIR": str(tmp_path / "c"),
                          "VXSERVE_TRT_BACKEND": "onnxruntime", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stderr
    assert "is an AOTInductor package, which cannot be exported to ONNX: set export_file" \
        in done.stderr
    assert "Traceback" not in done.stderr
