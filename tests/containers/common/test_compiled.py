"""AOTInductor packages told from torch.export programs by content, and `vxserve.warm`, the
build-time step that fills the torch.compile cache a new replica starts from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from vxserve.artifacts import read_manifest
from vxserve.errors import ConfigError

from ..compiled_model import CompiledArtifacts

COMMON = Path(__file__).resolve().parents[3] / "containers" / "common"


@pytest.fixture
def built(compiled_artifacts: CompiledArtifacts) -> CompiledArtifacts:
    """The session's packages (tests/conftest.py); read-only here."""
    return compiled_artifacts


def test_a_pt2_is_told_apart_by_its_contents_not_its_name(built: CompiledArtifacts,
                                                          tmp_path: Path) -> None:
    only_aoti = tmp_path / "aoti"
    only_aoti.mkdir()
    shutil.copy(built.aoti / "model.pt2", only_aoti / "program.pt2")
    only_export = tmp_path / "export"
    only_export.mkdir()
    shutil.copy(built.aoti / "model.export.pt2", only_export / "model.pt2")
    assert read_manifest(only_aoti).format == "aoti"
    assert read_manifest(only_export).format == "export"
    packaged_manifest = read_manifest(built.aoti)
    assert packaged_manifest.format == "aoti"
    assert packaged_manifest.export_file == built.aoti / "model.export.pt2"


def test_a_manifest_that_calls_a_package_a_program_says_which_it_is(
        built: CompiledArtifacts, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(built.aoti / "model.pt2", folder / "model.pt2")
    (folder / "vxserve.json").write_text(json.dumps({"format": "export"}))
    with pytest.raises(ConfigError, match=r"format is 'export' but model\.pt2 is an "
                       "AOTInductor package; set format to 'aoti'"):
        read_manifest(folder)


def _warm(folder: Path, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AIP_", "VXSERVE_", "TORCHINDUCTOR_"))}
    return subprocess.run(
        [sys.executable, "-m", "vxserve.warm", str(folder)], capture_output=True, text=True,
        timeout=300, env={**clean, "PYTHONPATH": str(COMMON),
                          "VXSERVE_COMPILE_CACHE_DIR": str(cache), **env},
    )


def test_warm_loads_the_kernels_package_compiled(built: CompiledArtifacts) -> None:
    done = _warm(built.compile, built.cache, VXSERVE_TORCH_THREADS="1")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["cache_hit"] is True and report["fx_misses"] == 0, report
    assert "torch.compile: TinyClassifier, batch dimension dynamic" in done.stderr


def test_warm_refuses_a_model_that_is_not_compiled(built: CompiledArtifacts,
                                                   tmp_path: Path) -> None:
    done = _warm(built.eager, tmp_path / "cache")
    assert done.returncode == 2
    assert "nothing to warm: the model is not torch.compiled" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_lstm_model_is_compiled_not_silently_left_eager(tmp_path: Path) -> None:
    from ..serverproc import ensure_example_artifacts

    folder = tmp_path / "sentiment"
    shutil.copytree(ensure_example_artifacts() / "state_dict", folder)
    manifest = json.loads((folder / "vxserve.json").read_text())
    (folder / "vxserve.json").write_text(json.dumps({**manifest, "compile": "compile"}))
    done = _warm(folder, tmp_path / "cache", VXSERVE_TORCH_THREADS="1")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["graphs"] >= 1 and report["fx_misses"] >= 1, report  # dynamo traced the LSTM


def test_a_cpu_package_on_a_gpu_server_says_what_to_do(built: CompiledArtifacts) -> None:
    import torch
    from vxserve.compiled import load_aoti_package

    with pytest.raises(ConfigError, match=r"compiled for cpu, but the server runs on cuda; "
                       r"package it on a cuda machine .* or set VXSERVE_DEVICE=cpu"):
        load_aoti_package(built.aoti / "model.pt2", torch.device("cuda", 0))


@pytest.mark.gpu
def test_cuda_aoti_package_and_torch_compile_equal_eager(tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU")
    from vxserve.compiled import compile_module, load_aoti_package, package_device

    from ..compiled_model import CODE

    namespace: dict[str, object] = {}
    exec(compile(CODE, "model.py", "exec"), namespace)
    torch.manual_seed(3)
    model = namespace["TinyClassifier"]().eval().cuda()  # type: ignore[operator]
    gen = torch.Generator().manual_seed(1)
    x = {n: torch.randint(0, 64, (n, 6), generator=gen).cuda() for n in (1, 2, 3)}
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (x[2],), dynamic_shapes=({0: batch},))
    path = Path(torch._inductor.aoti_compile_and_package(
        program, package_path=str(tmp_path / "model.pt2")))
    assert package_device(path) == "cuda"
    runner = load_aoti_package(path, torch.device("cuda", 0))
    compiled = compile_module(model)
    with torch.inference_mode():
        for n in (2, 1, 3):
            want = model(x[n])
            torch.testing.assert_close(runner(x[n]), want, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(compiled(x[n]), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="compiled for cuda, but the server runs on cpu"):
        load_aoti_package(path, torch.device("cpu"))


def test_a_compile_failure_is_one_clear_line_not_a_traceback(built: CompiledArtifacts,
                                                             tmp_path: Path) -> None:
    done = _warm(built.compile, tmp_path / "cold-cache", CXX="/nonexistent/g++")
    assert done.returncode == 2, done.stderr
    assert "torch.compile failed on TinyClassifier" in done.stderr
    assert "needs a C++ compiler (g++) and Python's headers (python3-dev)" in done.stderr
    assert "Traceback" not in done.stderr
