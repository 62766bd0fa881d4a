"""The ASGI app: vxserve's Vertex routes (vxserve.web) over a compiled backend.

Only the model differs from the PyTorch server: BackendService loads an ONNX Runtime /
TensorRT backend where vxserve loads a torch module; health names the backend.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Gauge
from starlette.applications import Starlette
from vxserve import web
from vxserve.artifacts import fetch_artifacts, read_manifest
from vxserve.config import ServeConfig
from vxserve.handler import load_handler
from vxserve.service import FAILED, PredictionService

from .handler import backend_handler
from .settings import TrtSettings

log = logging.getLogger("vxtrt")


class BackendService(PredictionService):
    """PredictionService whose handler's model is an ONNX Runtime / TensorRT backend."""

    def __init__(self, settings: TrtSettings):
        import torch

        def cpu(config: ServeConfig) -> torch.device:
            # The backend owns its device; the handler's tensors stay on the CPU.
            if config.torch_threads > 0:
                torch.set_num_threads(config.torch_threads)
            return torch.device("cpu")

        super().__init__(settings.serve, select_device=cpu)
        self.settings = settings
        self._backend_info = Gauge(
            "vxtrt_backend", "1 for the backend serving the model.", ["backend"],
            registry=self.metrics.registry,
        )

    def load(self) -> None:
        try:
            directory = fetch_artifacts(self.config.storage_uri, self.config.cache_dir)
            manifest = read_manifest(directory)
            base = load_handler(self.config.handler or manifest.handler, manifest.directory)
            self.handler = backend_handler(type(base), self.settings)
        except Exception as exc:
            self.failure, self.state = f"{type(exc).__name__}: {exc}", FAILED
            log.exception("model load failed")
            return
        super().load()
        backend = getattr(self.handler, "backend", None)
        if backend is not None:
            self._backend_info.labels(backend=backend.name).set(1)

    def close(self) -> None:
        super().close()
        backend = getattr(self.handler, "backend", None)
        if backend is not None:
            backend.close()


def create_app(settings: TrtSettings) -> Starlette:
    service = BackendService(settings)

    def name_backend(body: dict[str, Any]) -> None:
        backend = getattr(service.handler, "backend", None)
        if backend is not None:
            body["backend"] = backend.name

    return web.create_app(service, health_extra=name_backend)
