"""ONNX Runtime backend: CPU everywhere, CUDA where onnxruntime-gpu finds a GPU.

This is the backend CI runs: it serves the same ONNX graph the TensorRT engine is built
from, so the HTTP contract, batching and numerical agreement with eager PyTorch are
tested on any machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Backend, TensorSpec

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
}


def _spec(arg) -> TensorSpec:
    dtype = _ORT_TYPES.get(arg.type)
    if dtype is None:
        raise ValueError(f"ONNX tensor {arg.name!r} has unsupported type {arg.type}")
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorSpec(arg.name, np.dtype(dtype), shape)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, onnx_path: Path, *, device: str = "cpu", threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 0:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            index = int(device.split(":")[1]) if ":" in device else 0
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        self.providers = self.session.get_providers()
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ValueError(f"{onnx_path}: the graph has {len(inputs)} inputs ({names}); "
                             "vxtrt serves graphs with exactly one batched input")
        self._input = _spec(inputs[0])
        self._outputs = [_spec(o) for o in self.session.get_outputs()]
        self._output_names = [o.name for o in self._outputs]

    @property
    def input(self) -> TensorSpec:
        return self._input

    @property
    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self._output_names, {self._input.name: batch})

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "providers": self.providers}
