"""TensorRT 10 backend: build an engine from ONNX (cached), run it with the v3 execution API.

Build: the ONNX parser fills an explicit-batch network (the only kind in TensorRT 10);
one optimization profile spans the batch range (and the range of any other dynamic
dimension); fp16 is on by default where the GPU has fast fp16, int8 optional with an
entropy calibrator fed from example instances. The serialized engine is cached under a
key of the ONNX file's hash, the TensorRT version, the GPU model and compute capability,
the precision and the profile, because an engine is only valid for exactly that.

Run: `set_input_shape` for the batch, `set_tensor_address` for every I/O tensor
(device buffers are torch CUDA tensors, so no pycuda or cuda-python is needed), then
`execute_async_v3` on a torch CUDA stream. One execution context serves one batch at a
time; a lock serialises callers.

No GPU is present where this project's CI runs: the tests marked `gpu` exercise this
module wherever one is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import Backend, TensorSpec

log = logging.getLogger("vxtrt.tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Profile:
    """min/opt/max shapes of the one input, batch dimension first."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def to_json(self) -> str:
        return json.dumps([self.min, self.opt, self.max])


def make_profile(
    instance_shape: Sequence[int | None], *, max_batch: int, opt_batch: int,
    opt_dims: Sequence[int] | None = None, max_dim: int = 512,
) -> Profile:
    """A profile for the batch range 1..max_batch; other dynamic dims 1..max_dim."""
    lo, opt, hi = [1], [max(1, min(opt_batch, max_batch))], [max_batch]
    for i, d in enumerate(instance_shape):
        if d is None:
            o = opt_dims[i] if opt_dims is not None and i < len(opt_dims) else min(64, max_dim)
            lo.append(1)
            opt.append(max(1, min(int(o), max_dim)))
            hi.append(max_dim)
        else:
            lo.append(int(d))
            opt.append(int(d))
            hi.append(int(d))
    return Profile(tuple(lo), tuple(opt), tuple(hi))


def available() -> bool:
    """TensorRT importable and a CUDA device present."""
    try:
        import tensorrt  # noqa: F401
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def gpu_identity(device_index: int = 0) -> str:
    """GPU model and compute capability: an engine is only valid on the GPU it was built for."""
    import torch

    props = torch.cuda.get_device_properties(device_index)
    return f"{props.name}|sm{props.major}{props.minor}"


def engine_cache_key(onnx_path: Path, precision: str, profile: Profile, gpu: str) -> str:
    import tensorrt as trt

    h = hashlib.sha256()
    with open(onnx_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    h.update(f"|trt={trt.__version__}|gpu={gpu}|{precision}|{profile.to_json()}".encode())
    return h.hexdigest()[:32]


def _torch_dtype(trt_dtype: Any) -> Any:
    import tensorrt as trt
    import torch

    table = {
        trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
        trt.DataType.INT32: torch.int32, trt.DataType.INT64: torch.int64,
        trt.DataType.BOOL: torch.bool, trt.DataType.INT8: torch.int8,
        trt.DataType.UINT8: torch.uint8,
    }
    if hasattr(trt.DataType, "BF16"):
        table[trt.DataType.BF16] = torch.bfloat16
    return table[trt_dtype]


def _capability() -> tuple[int, int]:
    """The GPU's compute capability. TensorRT 10.5 deprecated platform_has_fast_fp16/int8
    in favour of asking CUDA: fast fp16 from sm_60, int8 dot products from sm_61."""
    import torch

    return tuple(torch.cuda.get_device_capability())  # type: ignore[return-value]


def _numpy_dtype(torch_dtype: Any) -> np.dtype:
    name = str(torch_dtype).replace("torch.", "")
    return np.dtype("float32" if name == "bfloat16" else name)  # numpy has no bfloat16


def _make_calibrator(batches: list[np.ndarray], input_name: str, cache_file: Path) -> Any:
    """An IInt8EntropyCalibrator2 fed from host batches (copied to the GPU one at a time)."""
    import tensorrt as trt
    import torch

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = list(batches)
            self._index = 0
            self._current: Any = None

        def get_batch_size(self) -> int:
            return int(self._batches[0].shape[0]) if self._batches else 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self._index >= len(self._batches):
                return None
            self._current = torch.from_numpy(self._batches[self._index]).cuda().contiguous()
            self._index += 1
            return [int(self._current.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.exists() else None

        def write_calibration_cache(self, cache: bytes) -> None:
            cache_file.write_bytes(bytes(cache))

    del input_name  # one input: TensorRT asks for it by name, in order
    return Calibrator()


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    *,
    profile: Profile,
    precision: str = "fp16",
    workspace_bytes: int = 4 << 30,
    calibration: list[np.ndarray] | None = None,
) -> Path:
    """Parse ONNX, build and serialize an engine to `engine_path` (atomically)."""
    import tensorrt as trt

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of: {', '.join(PRECISIONS)}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes(), str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    if network.num_inputs != 1:
        raise RuntimeError(
            f"{onnx_path}: vxtrt serves graphs with one input, got {network.num_inputs}"
        )
    input_name = network.get_input(0).name
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(input_name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(opt_profile)
    if precision != "fp32" and not hasattr(trt.BuilderFlag, "FP16"):
        raise RuntimeError(f"TensorRT {trt.__version__} has no weakly-typed fp16/int8 builds; "
                           "vxtrt targets TensorRT 10 (set VXSERVE_TRT_PRECISION=fp32)")
    capability = _capability()
    if precision in ("fp16", "int8") and capability >= (6, 0):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        if capability < (6, 1):
            raise RuntimeError(f"int8 was asked for but this GPU (sm_{capability[0]}"
                               f"{capability[1]}) has no fast int8 support")
        if not calibration:
            raise RuntimeError("int8 needs calibration batches (VXSERVE_TRT_CALIBRATION or "
                               "example_instances in vxserve.json)")
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_calibration_profile(opt_profile)
        config.int8_calibrator = _make_calibrator(
            calibration, input_name, engine_path.with_suffix(".calib")
        )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(bytes(serialized))
    os.replace(tmp, engine_path)
    return engine_path


def cached_engine(
    onnx_path: Path, cache_dir: Path, *, profile: Profile, precision: str,
    device_index: int = 0, calibration: list[np.ndarray] | None = None,
) -> Path:
    """The engine for this ONNX file, GPU, precision and profile: built once, then reused."""
    key = engine_cache_key(onnx_path, precision, profile, gpu_identity(device_index))
    path = cache_dir / f"{key}.engine"
    if path.exists():
        log.warning("using cached TensorRT engine %s", path)
        return path
    log.warning("building TensorRT engine (%s, profile %s): minutes for large models",
                precision, profile.to_json())
    return build_engine(onnx_path, path, profile=profile, precision=precision,
                        calibration=calibration)


class TensorRTBackend(Backend):
    """One deserialized engine and one execution context on one GPU."""

    name = "tensorrt"

    def __init__(self, engine_path: Path, *, device_index: int = 0):
        import tensorrt as trt
        import torch

        self.device = torch.device(f"cuda:{device_index}")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self.device):
            self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
            if self.engine is None:
                raise RuntimeError(f"{engine_path}: TensorRT could not deserialize the engine "
                                   "(built by another TensorRT version or for another GPU?)")
            self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(device=self.device)
        self._lock = threading.Lock()
        inputs, outputs = [], []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            dtype = _torch_dtype(self.engine.get_tensor_dtype(name))
            shape = tuple(d if d >= 0 else None for d in self.engine.get_tensor_shape(name))
            spec = TensorSpec(name, _numpy_dtype(dtype), shape)
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (inputs if is_input else outputs).append((spec, dtype))
        if len(inputs) != 1:
            raise RuntimeError(f"{engine_path}: expected one input tensor, got {len(inputs)}")
        (self._input, self._input_torch_dtype), = inputs
        self._outputs = outputs
        # The profile's max batch: larger batches are cut into chunks by Backend.run.
        _, _, max_shape = self.engine.get_tensor_profile_shape(self._input.name, 0)
        self.max_batch = int(max_shape[0])

    @property
    def input(self) -> TensorSpec:
        return self._input

    @property
    def outputs(self) -> list[TensorSpec]:
        return [spec for spec, _ in self._outputs]

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        import torch

        with self._lock, torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            x = torch.from_numpy(batch).to(self.device, self._input_torch_dtype, non_blocking=True)
            x = x.contiguous()
            if not self.context.set_input_shape(self._input.name, tuple(x.shape)):
                raise ValueError(f"input shape {list(x.shape)} is outside the engine's "
                                 "optimization profile")
            self.context.set_tensor_address(self._input.name, int(x.data_ptr()))
            results = []
            for spec, dtype in self._outputs:
                shape = tuple(self.context.get_tensor_shape(spec.name))
                out = torch.empty(shape, dtype=dtype, device=self.device)
                self.context.set_tensor_address(spec.name, int(out.data_ptr()))
                results.append(out)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed (see log above)")
            host = [r.to("cpu", non_blocking=True) for r in results]
            self.stream.synchronize()
        return [(h.float() if h.dtype == torch.bfloat16 else h).numpy() for h in host]

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "max_batch": self.max_batch, "device": str(self.device)}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            del self.context
            del self.engine
