"""The ASGI app: Vertex's routes over vxserve's PredictionService with a compiled backend.

FastAPI only moves bytes here: the service decides every status (readiness, limits,
validation, queue, drain). Predictions run in worker threads (the service blocks on the
batcher's futures), bounded by a capacity limiter so a flood waits in the service's
bounded queue (429 when full) rather than in an unbounded thread pool.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI
from prometheus_client import Gauge
from starlette.requests import Request
from starlette.responses import Response
from vxserve.artifacts import fetch_artifacts, read_manifest
from vxserve.asgi import read_limited
from vxserve.config import ServeConfig
from vxserve.errors import PayloadTooLarge
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


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json")


def create_app(settings: TrtSettings) -> FastAPI:
    service = BackendService(settings)
    limiter = anyio.CapacityLimiter(128)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.load_in_background()
        try:
            yield
        finally:
            # uvicorn has stopped accepting and waited for in-flight requests by now.
            service.begin_drain()
            await anyio.to_thread.run_sync(service.wait_drained)
            service.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.service = service

    async def health(request: Request) -> Response:
        status, body = service.health()
        backend = getattr(service.handler, "backend", None)
        if status == 200 and backend is not None:
            body["backend"] = backend.name
        return _json(status, body)

    async def predict(request: Request) -> Response:
        try:
            raw = await read_limited(request, settings.serve.max_body_bytes)
        except PayloadTooLarge as err:
            service.metrics.observe_request(err.http_status, 0.0, 0)
            return _json(err.http_status, err.to_body())
        status, body = await anyio.to_thread.run_sync(service.predict, raw, None, limiter=limiter)
        return _json(status, body)

    async def metrics(request: Request) -> Response:
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)

    app.add_api_route(settings.serve.health_route, health, methods=["GET"])
    app.add_api_route(settings.serve.predict_route, predict, methods=["POST"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    return app
