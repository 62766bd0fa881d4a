"""The Flask adapter: moves HTTP bytes to and from vxserve's PredictionService.

Everything a client can observe (readiness, limits, errors, batching, drain) is decided
by the service; this module only wires the routes Vertex names in AIP_HEALTH_ROUTE and
AIP_PREDICT_ROUTE, plus /metrics, and renders every answer — errors included — as JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, request
from vxserve import PredictionService, ServeConfig
from werkzeug.exceptions import HTTPException

SERVICE_KEY = "VXSERVE_SERVICE"


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json"
    )


def _read_at_most(stream: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def create_app(service: PredictionService | None = None) -> Flask:
    """Build the WSGI app; the model loads later (gunicorn's post_worker_init, or the caller).

    Loading after the app exists lets the health route answer 503 while the model loads,
    which is what Vertex's probes expect.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if service is None:
        service = PredictionService(ServeConfig.from_env())
    config = service.config
    app = Flask("vxserve-flask")
    app.config[SERVICE_KEY] = service

    @app.get(config.health_route)
    def health() -> Response:
        return _json(*service.health())

    @app.post(config.predict_route)
    def predict() -> Response:
        length = request.content_length
        if length is not None and length > config.max_body_bytes:
            # Answer before reading a body we will refuse anyway.
            return _json(*service.predict(b"", content_length=length))
        if length is None:  # chunked: read at most one byte past the limit
            body = _read_at_most(request.environ["wsgi.input"], config.max_body_bytes + 1)
        else:
            # Raw bytes whatever the Content-Type says (curl -d sends form-urlencoded).
            body = request.get_data(cache=False, parse_form_data=False)
        return _json(*service.predict(body, content_length=length))

    @app.get("/metrics")
    def metrics() -> Response:
        text, content_type = service.metrics.render()
        return Response(text, status=200, content_type=content_type)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        status = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(code, "INVALID_ARGUMENT")
        message = f"{request.method} {request.path}: {exc.description}"
        if code == 413:
            message = (
                f"request body is over the limit of {config.max_body_bytes} bytes "
                "(VXSERVE_MAX_BODY_BYTES); send fewer instances per request"
            )
        if code == 404:
            message += (
                f" (routes: GET {config.health_route}, POST {config.predict_route}, GET /metrics)"
            )
        return _json(code, {"error": {"code": code, "status": status, "message": message}})

    return app
