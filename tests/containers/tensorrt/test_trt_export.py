"""ONNX export (dynamic batch) of every artifact format, checked on ONNX Runtime against eager."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from vxserve.artifacts import read_manifest
from vxserve.errors import ConfigError
from vxserve.loading import load_torch_model
from vxtrt.backends.onnxruntime import OnnxRuntimeBackend
from vxtrt.export import export_key, onnx_instance_shape, to_onnx
from vxtrt.settings import TrtSettings

from ..serverproc import ensure_example_artifacts


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return ensure_example_artifacts()


@pytest.fixture(scope="module")
def cache(trt_cache: Path) -> Path:
    return trt_cache


def eager(folder: Path, batch: torch.Tensor) -> np.ndarray:
    model = load_torch_model(read_manifest(folder), torch.device("cpu"))
    with torch.inference_mode():
        return model(batch).numpy()


@pytest.mark.parametrize(("fmt", "seq_dynamic"), [
    ("torchscript", True), ("state_dict", True), ("export", False),
])
def test_export_keeps_batch_dynamic_and_matches_eager(
    artifacts: Path, cache: Path, fmt: str, seq_dynamic: bool
) -> None:
    folder = artifacts / fmt
    onnx_path = to_onnx(read_manifest(folder), cache)
    shape = onnx_instance_shape(onnx_path)
    # .pt2 programs fix what torch.export specialised (the LSTM's length); the others do not.
    assert shape == ((None,) if seq_dynamic else (64,))
    backend = OnnxRuntimeBackend(onnx_path)
    assert backend.input.shape[0] is None
    lengths = [64, 9] if seq_dynamic else [64]
    for batch_size in (1, 5):
        for length in lengths:
            batch = torch.randint(1, 19_999, (batch_size, length),
                                  generator=torch.Generator().manual_seed(batch_size + length))
            got = backend.run(batch.numpy())[0]
            np.testing.assert_allclose(got, eager(folder, batch), rtol=1e-4, atol=1e-5)


def test_export_is_cached_by_content(artifacts: Path, cache: Path, tmp_path: Path) -> None:
    first = to_onnx(read_manifest(artifacts / "torchscript"), cache)
    stamp = first.stat().st_mtime_ns
    # The same bytes in another folder: the same key, the cached file, no new export.
    folder = tmp_path / "model"
    shutil.copytree(artifacts / "torchscript", folder)
    assert to_onnx(read_manifest(folder), cache) == first
    assert first.stat().st_mtime_ns == stamp
    # Other weights: another key.
    with open(folder / "model.pt", "ab") as handle:
        handle.write(b"\0")
    assert export_key(read_manifest(folder)) != export_key(read_manifest(artifacts / "torchscript"))


def test_onnx_artifacts_are_used_as_they_are(artifacts: Path, cache: Path, tmp_path: Path) -> None:
    exported = to_onnx(read_manifest(artifacts / "torchscript"), cache)
    folder = tmp_path / "onnx-artifact"
    folder.mkdir()
    shutil.copy(exported, folder / "model.onnx")
    manifest = read_manifest(folder)
    assert manifest.format == "onnx"
    assert to_onnx(manifest, tmp_path / "unused") == folder / "model.onnx"


def test_backend_chunks_batches_over_its_maximum(artifacts: Path, cache: Path) -> None:
    backend = OnnxRuntimeBackend(to_onnx(read_manifest(artifacts / "torchscript"), cache))
    batch = np.random.default_rng(0).integers(1, 19_999, (7, 32))
    whole = backend.run(batch)[0]
    backend.max_batch = 3
    np.testing.assert_allclose(backend.run(batch)[0], whole, rtol=1e-5, atol=1e-6)


def test_export_without_examples_or_shape_says_what_is_missing(
    tmp_path: Path, artifacts: Path
) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(artifacts / "torchscript" / "model.pt", folder / "model.pt")
    with pytest.raises(ConfigError, match=r"example_instances or input\.shape"):
        to_onnx(read_manifest(folder), tmp_path / "cache")


@pytest.mark.parametrize(("env", "message"), [
    ({"VXSERVE_TRT_BACKEND": "cuda"},
     "VXSERVE_TRT_BACKEND='cuda' is not one of: auto, tensorrt, onnxruntime"),
    ({"VXSERVE_TRT_PRECISION": "fp8"},
     "VXSERVE_TRT_PRECISION='fp8' is not one of: fp16, fp32, int8"),
    ({"VXSERVE_TRT_MAX_BATCH": "0"}, "VXSERVE_TRT_MAX_BATCH=0 must be >= 1"),
    ({"VXSERVE_TRT_MAX_DIM": "big"}, "VXSERVE_TRT_MAX_DIM='big' is not an integer"),
    ({"VXSERVE_AUTOCAST": "bf16"},
     "VXSERVE_AUTOCAST='bf16' does not apply to the tensorrt container; set "
     "VXSERVE_TRT_PRECISION"),
    ({"VXSERVE_TRT_CALIBRATION": "/nonexistent.json"},
     "VXSERVE_TRT_CALIBRATION='/nonexistent.json' is not a file"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrtSettings.from_env(env)
    assert message in str(info.value)


def test_prebuild_fills_the_cache_the_server_reads(artifacts: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from ..serverproc import CONTAINERS

    cache = tmp_path / "cache"
    env = {**os.environ, "VXSERVE_TRT_CACHE_DIR": str(cache), "VXSERVE_TRT_BACKEND": "onnxruntime",
           "PYTHONPATH": f"{CONTAINERS / 'tensorrt'}{os.pathsep}{CONTAINERS / 'common'}"}
    done = subprocess.run([sys.executable, "-m", "vxtrt.prebuild", str(artifacts / "state_dict")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = cache / "onnx" / f"{export_key(read_manifest(artifacts / 'state_dict'))}.onnx"
    assert expected.is_file()
    assert f"onnx: {expected}" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "vxtrt.prebuild", str(tmp_path / "missing")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "does not exist" in bad.stderr
