"""TensorRT engine: the optimization profile (pure, runs everywhere) and, on a GPU, the
engine build, its cache and its numbers against ONNX Runtime (marked `gpu`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vxserve.artifacts import read_manifest
from vxtrt.backends import tensorrt as trt_backend
from vxtrt.backends.onnxruntime import OnnxRuntimeBackend
from vxtrt.export import to_onnx

from ..serverproc import ensure_example_artifacts


def test_profile_spans_the_batch_range_and_dynamic_dims() -> None:
    profile = trt_backend.make_profile((None,), max_batch=32, opt_batch=16, opt_dims=[64],
                                       max_dim=256)
    assert profile.min == (1, 1)
    assert profile.opt == (16, 64)
    assert profile.max == (32, 256)


def test_profile_keeps_static_dims_fixed() -> None:
    profile = trt_backend.make_profile((3, None, 224), max_batch=8, opt_batch=64, max_dim=512)
    assert profile.min == (1, 3, 1, 224)
    assert profile.opt == (8, 3, 64, 224)  # opt batch clipped to max
    assert profile.max == (8, 3, 512, 224)


gpu = pytest.mark.skipif(not trt_backend.available(), reason="needs TensorRT and a CUDA GPU")


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = ensure_example_artifacts() / "torchscript"
    return to_onnx(read_manifest(folder), tmp_path_factory.mktemp("onnx"))


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-4), ("fp16", 2e-2)])
def test_engine_matches_onnxruntime(
    onnx_path: Path, tmp_path: Path, precision: str, tolerance: float
) -> None:
    profile = trt_backend.make_profile((None,), max_batch=16, opt_batch=8, opt_dims=[64],
                                       max_dim=128)
    engine = trt_backend.cached_engine(onnx_path, tmp_path, profile=profile, precision=precision)
    backend = trt_backend.TensorRTBackend(engine)
    reference = OnnxRuntimeBackend(onnx_path)
    rng = np.random.default_rng(0)
    for batch_size, length in ((1, 64), (16, 64), (40, 17)):  # 40 > max_batch: chunked
        batch = rng.integers(1, 19_999, (batch_size, length))
        np.testing.assert_allclose(backend.run(batch)[0], reference.run(batch)[0],
                                   rtol=tolerance, atol=tolerance)
    assert backend.max_batch == 16
    backend.close()


@pytest.mark.gpu
@gpu
def test_engine_cache_is_keyed_and_reused(onnx_path: Path, tmp_path: Path) -> None:
    profile = trt_backend.make_profile((None,), max_batch=4, opt_batch=2, max_dim=64)
    first = trt_backend.cached_engine(onnx_path, tmp_path, profile=profile, precision="fp16")
    stamp = first.stat().st_mtime_ns
    again = trt_backend.cached_engine(onnx_path, tmp_path, profile=profile, precision="fp16")
    assert again == first and first.stat().st_mtime_ns == stamp
    other = trt_backend.cached_engine(onnx_path, tmp_path, profile=profile, precision="fp32")
    assert other != first
