"""Put an ONNX Runtime or TensorRT backend under whatever vxserve handler the artifact names.

The artifact's handler (built-in "classification", a user's handler.py, ...) keeps its
pre- and post-processing; only `load_model` changes: instead of a torch module it gets a
`BackendModel`, a callable that takes and returns torch CPU tensors like the module did,
but runs the compiled graph. So validation, batching and the answer's shape are exactly
those of the torch servers.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from vxserve.errors import ConfigError, InvalidInput
from vxserve.handler import BaseHandler, ModelContext, quick, quick_hooks

from .backends.base import Backend
from .export import example_batch, onnx_instance_shape, to_onnx
from .settings import TrtSettings

log = logging.getLogger("vxtrt")


class BackendModel:
    """Callable like the torch module it replaces: a torch batch in, torch outputs out."""

    def __init__(self, backend: Backend):
        self.backend = backend

    def __call__(self, batch: Any) -> Any:
        import torch

        outputs = self.backend.run(batch.detach().cpu().numpy())
        tensors = [torch.from_numpy(np.ascontiguousarray(o)) for o in outputs]
        return tensors[0] if len(tensors) == 1 else tuple(tensors)


def choose_backend(settings: TrtSettings, onnx_path: Any, manifest: Any) -> Backend:
    """TensorRT where asked for (or auto and available), ONNX Runtime otherwise."""
    from .backends import tensorrt as trt_backend

    wanted = settings.backend
    if wanted == "tensorrt" and not trt_backend.available():
        raise ConfigError("VXSERVE_TRT_BACKEND=tensorrt but TensorRT or a CUDA GPU is missing "
                          "(allowed: auto, tensorrt, onnxruntime)")
    if wanted == "tensorrt" or (wanted == "auto" and trt_backend.available()):
        import torch

        device = settings.serve.device
        device_index = int(device.split(":")[1]) if device.startswith("cuda:") \
            else torch.cuda.current_device()
        shape = onnx_instance_shape(onnx_path)
        opt_dims = list(example_batch(manifest, 1).shape[1:]) if manifest.example_instances \
            else None
        profile = trt_backend.make_profile(
            shape, max_batch=settings.max_batch, opt_batch=max(1, settings.max_batch // 2),
            opt_dims=opt_dims, max_dim=settings.max_dim,
        )
        engine = trt_backend.cached_engine(
            onnx_path, settings.cache_dir / "engines", profile=profile,
            precision=settings.precision, device_index=device_index,
            calibration=_calibration(settings, manifest),
        )
        return trt_backend.TensorRTBackend(engine, device_index=device_index)
    from .backends.onnxruntime import OnnxRuntimeBackend

    device = "cuda" if wanted == "auto" and _cuda() else "cpu"
    return OnnxRuntimeBackend(onnx_path, device=device, threads=settings.serve.torch_threads)


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _calibration(settings: TrtSettings, manifest: Any) -> list[np.ndarray] | None:
    if settings.precision != "int8":
        return None
    if settings.calibration is not None:
        instances = json.loads(settings.calibration.read_text())
    else:
        instances = manifest.example_instances or []
    if not instances:
        return None
    dtype = np.dtype({"long": "int64", "int": "int64", "float": "float32"}.get(
        manifest.input_dtype or "float32", manifest.input_dtype or "float32"))
    try:
        arrays = np.asarray(instances, dtype=dtype)
    except ValueError as exc:
        raise ConfigError(f"int8 calibration instances must share one shape: {exc}") from None
    size = max(1, min(8, len(arrays)))
    return [arrays[i:i + size] for i in range(0, len(arrays) - size + 1, size)]


def backend_handler(base: type[BaseHandler], settings: TrtSettings) -> BaseHandler:
    """An instance of a subclass of `base` whose model is the compiled graph."""

    def load_model(self: BaseHandler, context: ModelContext) -> Any:
        onnx_path = to_onnx(context.manifest, settings.cache_dir)
        backend = choose_backend(settings, onnx_path, context.manifest)
        self.backend = backend  # type: ignore[attr-defined]
        # Dimensions the graph fixed (a torch.export program specialises some) become the
        # instance shape the handler validates, so a wrong length is a 400, not a crash.
        graph_shape = backend.input.instance_shape
        if self.input_shape is None or any(
            d is None and g is not None for d, g in zip(self.input_shape, graph_shape, strict=False)
        ):
            self.input_shape = tuple(graph_shape)
        log.warning("vxtrt backend: %s", backend.describe())
        return BackendModel(backend)

    def preprocess(
        self: BaseHandler, instances: list[Any], parameters: dict[str, Any]
    ) -> list[Any]:
        items = base.preprocess(self, instances, parameters)
        backend = getattr(self, "backend", None)
        if backend is not None and backend.name == "tensorrt":
            # The engine's profile bounds dynamic dims; past it TensorRT would fail the batch.
            for index, item in enumerate(items):
                too_long = [d for d in item.shape if d > settings.max_dim]
                if too_long:
                    raise InvalidInput(
                        f"instance {index} has shape {list(item.shape)}; dimensions are limited "
                        f"to {settings.max_dim} (VXSERVE_TRT_MAX_DIM) by the TensorRT engine"
                    )
        return items

    if quick_hooks(base):  # a shape check on top: as quick as the base's own
        preprocess = quick(preprocess)
    cls = type(f"Backend{base.__name__}", (base,), {"load_model": load_model,
                                                    "preprocess": preprocess})
    return cls()
