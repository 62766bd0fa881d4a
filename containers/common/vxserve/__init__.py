"""vxserve: the serving runtime every bundled vxdeploy container is built on.

It implements the Vertex AI custom-container contract once (AIP_* routes and port, health
503 until warmed up, {"instances"} -> {"predictions"}, 400/413/429/503 errors, dynamic
batching, Prometheus metrics, SIGTERM drain) so the Flask, TorchServe and ONNX Runtime
servers only differ in how they move bytes and run the model. It never imports vxdeploy:
it ships inside images.

Public interface:
    ServeConfig.from_env()            settings from AIP_* / VXSERVE_*
    PredictionService(config)         load() / health() / predict(body) / begin_drain() ...
    BaseHandler, TensorHandler, ClassificationHandler, load_handler, ModelContext
    quick                             marks a handler hook as safe to run on the event loop
    fetch_artifacts, read_manifest, Manifest      artifacts (gs://, file://, local) + format
    load_torch_model                  TorchScript, torch.export (.pt2), AOTInductor (.pt2),
                                      state dict + code
    compiled                          AOTInductor loading, torch.compile + persistent cache
    python -m vxserve.package / .warm compiled artifacts; build-time cache warm-up
    Batcher, Work, run_group          dynamic batching
    precision                         VXSERVE_AUTOCAST (CUDA and CPU) and its measured drift
    ServeMetrics                      Prometheus registry for /metrics
    errors: ServeError, InvalidInput, PayloadTooLarge, Overloaded, Unavailable,
            OutOfMemory, DeadlineExceeded, ModelFailure, ConfigError
"""

from .artifacts import Manifest, fetch_artifacts, read_manifest
from .batching import Batcher, Work, run_group
from .config import ServeConfig
from .errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidInput,
    ModelFailure,
    OutOfMemory,
    Overloaded,
    PayloadTooLarge,
    ServeError,
    Unavailable,
)
from .handler import (
    BaseHandler,
    ClassificationHandler,
    ModelContext,
    TensorHandler,
    group_by_key,
    load_handler,
    quick,
)
from .loading import load_torch_model
from .metrics import ServeMetrics
from .service import PredictionService

__all__ = [
    "BaseHandler",
    "Batcher",
    "ClassificationHandler",
    "ConfigError",
    "DeadlineExceeded",
    "InvalidInput",
    "Manifest",
    "ModelContext",
    "ModelFailure",
    "OutOfMemory",
    "Overloaded",
    "PayloadTooLarge",
    "PredictionService",
    "ServeConfig",
    "ServeError",
    "ServeMetrics",
    "TensorHandler",
    "Unavailable",
    "Work",
    "fetch_artifacts",
    "group_by_key",
    "load_handler",
    "load_torch_model",
    "quick",
    "read_manifest",
    "run_group",
]
