"""Compiled artifacts on the tensorrt container's CPU backend (ONNX Runtime): an AOTInductor
package is served from the torch.export program packaged beside it, and a package without
one is refused with a message that says what to add."""

from __future__ import annotations

import json
import shutil
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
    work = tmp_path_factory.mktemp("trt-compiled")
    common = {"VXSERVE_CACHE_DIR": str(work / "cache"), "VXSERVE_TORCH_THREADS": "1",
              "VXSERVE_TRT_CACHE_DIR": str(work / "trt-cache"),
              "VXSERVE_TRT_BACKEND": "onnxruntime"}
    running = {mode: start("tensorrt", {**common, "AIP_STORAGE_URI": str(built[mode])},
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


def test_aoti_package_is_served_from_its_export_program(servers: dict[str, ServerProc]) -> None:
    assert "vxtrt exports ONNX from its torch.export program model.export.pt2" in \
        servers["aoti"].log()


def test_aoti_package_without_export_program_names_the_missing_field(
        built: dict[str, Path], tmp_path: Path) -> None:
    import sys

    from vxtrt.prebuild import main  # noqa: F401 - same loader as the server

    bare = tmp_path / "bare"
    shutil.copytree(built["aoti"], bare)
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
