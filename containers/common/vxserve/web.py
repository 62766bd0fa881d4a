"""Vertex's routes over a PredictionService, as an ASGI app (Starlette).

The front of the `flask` and `tensorrt` containers. It only moves bytes: the service
decides every status (readiness, limits, validation, queue, drain). Predictions are
awaited on the event loop (`PredictionService.predict_async`): no request holds a thread
while its batch runs, and none pays a hop to a thread pool and back. Unknown routes and
methods answer JSON like every other error, naming the routes that exist.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .asgi import read_limited
from .errors import PayloadTooLarge
from .service import PredictionService

log = logging.getLogger("vxserve")

HealthExtra = Callable[[dict[str, Any]], None]


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json"
    )


def create_app(service: PredictionService, *, health_extra: HealthExtra | None = None) -> Starlette:
    """The app; the model loads in the background once the server runs (lifespan start).

    Loading after the socket is served lets the health route answer 503 while the model
    loads, which is what Vertex's probes expect. `health_extra` may add fields to a ready
    health body (the TensorRT server names its backend).
    """
    config = service.config

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.load_in_background()
        try:
            yield
        finally:
            # A SIGTERM drain (vxserve.asgi.run) has already finished by now; this covers a
            # stop without one (SIGINT, an embedding server).
            service.begin_drain()
            await anyio.to_thread.run_sync(service.wait_drained)
            service.close()

    async def health(request: Request) -> Response:
        status, body = service.health()
        if status == 200 and health_extra is not None:
            health_extra(body)
        return json_response(status, body)

    async def predict(request: Request) -> Response:
        try:
            raw = await read_limited(request, config.max_body_bytes)
        except PayloadTooLarge as err:
            service.metrics.observe_request(err.http_status, 0.0, 0)
            return json_response(err.http_status, err.to_body())
        return json_response(*await service.predict_async(raw))

    async def metrics(request: Request) -> Response:
        text, content_type = service.metrics.render()
        return Response(text, status_code=200, headers={"content-type": content_type})

    async def http_error(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        status = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(code, "INVALID_ARGUMENT")
        message = f"{request.method} {request.url.path}: {_reason(code)}"
        if code == 404:
            message += (
                f" (routes: GET {config.health_route}, POST {config.predict_route}, GET /metrics)"
            )
        return json_response(code, {"error": {"code": code, "status": status, "message": message}})

    app = Starlette(
        routes=[
            Route(config.health_route, health, methods=["GET"]),
            Route(config.predict_route, predict, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.service = service
    return app


def _reason(code: int) -> str:
    return {
        404: "no such route",
        405: "method not allowed on this route",
    }.get(code, "bad request")
