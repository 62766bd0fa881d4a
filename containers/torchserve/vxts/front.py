"""The ASGI front on $AIP_HTTP_PORT: Vertex's routes in front of TorchServe's.

Per prediction the front checks the body size and the envelope (so a malformed request
never costs a trip through the JVM and a worker), bounds the instances in flight (429
rather than TorchServe's ambiguous 503), forwards the body unchanged over a keep-alive
connection to `/predictions/<model>` on loopback, and passes the answer back. Health is
503 until TorchServe has a READY worker, which happens only after the handler loaded and
warmed the model. On SIGTERM uvicorn stops accepting, lets in-flight requests finish
(VXSERVE_DRAIN_TIMEOUT_S), and only then is the JVM stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import Gauge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from vxserve.artifacts import fetch_artifacts
from vxserve.asgi import read_limited
from vxserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelFailure,
    Overloaded,
    PayloadTooLarge,
    ServeError,
    Unavailable,
)
from vxserve.metrics import ServeMetrics

from .archive import prepare_archive
from .bundling import BUNDLE_HEADER, PARTS_HEADER, Answer, Bundler, bundle_body, split_answers
from .envelope import parse_body
from .process import Layout, TorchServeProcess, TorchServeStartError
from .properties import pick_ports, taken_ports
from .settings import TorchServeSettings
from .upstream import Upstream, UpstreamError, UpstreamResponse

START_ATTEMPTS = 3  # JVM starts when its ports were taken between picking and binding

log = logging.getLogger("vxts")
WORKER_CHECK_S = 1.0  # how stale health's view of TorchServe's workers may be
BATCH_HEADER = "x-vxts-batch-requests"  # requests in the TorchServe batch that served this one


class Front:
    """State shared by the routes: the phase, the TorchServe process, the upstream pools."""

    def __init__(self, settings: TorchServeSettings):
        self.settings = settings
        self.serve = settings.serve
        self.metrics = ServeMetrics()
        self.start_seconds = Gauge(
            "vxts_start_seconds", "Seconds from process start to the first READY worker.",
            registry=self.metrics.registry,
        )
        self.phase = "starting"  # starting | ready | failed | draining
        self.error = ""
        self.ts: TorchServeProcess | None = None
        self.inference: Upstream | None = None
        self.bundler: Bundler | None = None  # set once the archive says who handles requests
        self.management: Upstream | None = None
        self.ts_metrics: Upstream | None = None
        self.inflight_instances = 0
        self.time_to_ready_s: float | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._start_task: asyncio.Task[None] | None = None
        self._predict_path = f"/predictions/{settings.model_name}"
        self._workers_ready = True
        self._workers_checked_at = 0.0

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Begin loading in the background so health answers 503 (not refused) meanwhile."""
        self._start_task = asyncio.create_task(self._load())

    async def _load(self) -> None:
        started = time.monotonic()
        try:
            work_dir = self.settings.work_dir
            if work_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="vxts-")
                work_dir = Path(self._tmp.name)
            layout = Layout(Path(work_dir))
            layout.create()
            artifacts = await asyncio.to_thread(
                fetch_artifacts, self.serve.storage_uri, self.serve.cache_dir
            )
            self.settings = await asyncio.to_thread(
                prepare_archive, self.settings, artifacts, layout.model_store,
                layout.tmp / "archiver",
            )
            if self.settings.front_batches:
                self.bundler = Bundler(self._send, slots=self.settings.workers,
                                       max_instances=self.serve.batch_size,
                                       max_bytes=self.settings.request_limit_bytes)
            jvm_ready = await self._start_torchserve(layout)
        except Exception as exc:
            # Like every vxserve server: stay up, answer health 503 with the reason, so the
            # cause is visible from outside (and in the logs) instead of a crash loop.
            self.phase, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("vxts: start failed: %s", self.error)
            if self.ts is not None:
                await asyncio.to_thread(self.ts.stop, 10.0)
            return
        self.time_to_ready_s = time.monotonic() - started
        self.start_seconds.set(self.time_to_ready_s)
        self.metrics.ready.set(1)
        self.metrics.batching.set(0 if self.settings.batch_size == 1 else 1)
        self.phase = "ready"
        self._workers_checked_at = time.monotonic()
        log.warning("vxts: ready in %.2fs (TorchServe start to READY worker %.2fs)",
                    self.time_to_ready_s, jvm_ready)

    async def _start_torchserve(self, layout: Layout) -> float:
        """Start the JVM on fresh loopback ports and wait for a READY worker.

        The ports are free when picked but bound only later by the JVM; when it dies because
        another process took one in between, start again on new ports (bounded).
        """
        for attempt in range(1, START_ATTEMPTS + 1):
            ports = pick_ports()
            self.inference = Upstream("127.0.0.1", ports.inference)
            self.management = Upstream("127.0.0.1", ports.management, max_idle=2)
            self.ts_metrics = Upstream("127.0.0.1", ports.metrics, max_idle=2)
            self.ts = TorchServeProcess(self.settings, layout, ports)
            self.ts.start()
            try:
                return await self.ts.wait_ready(self.management)
            except TorchServeStartError:
                taken = taken_ports(ports) if self.ts.exited() is not None else []
                if not taken or attempt == START_ATTEMPTS:
                    raise
                log.warning("vxts: TorchServe could not bind port(s) %s, taken meanwhile by "
                            "another process; starting again on new ports (%d/%d)",
                            taken, attempt + 1, START_ATTEMPTS)
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        """After uvicorn drained the front: stop the JVM, close the pools, clean up."""
        self.phase = "draining"
        self.metrics.ready.set(0)
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()
            with contextlib.suppress(BaseException):
                await self._start_task
        if self.ts is not None:
            await asyncio.to_thread(self.ts.stop, self.serve.drain_timeout_s)
        for upstream in (self.inference, self.management, self.ts_metrics):
            if upstream is not None:
                upstream.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- routes ----------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        if self.phase == "ready" and self.ts is not None:
            problem = await self._serving_problem()
            if not problem:
                return JSONResponse({"status": "ready"})
            return JSONResponse({"status": "unavailable", "error": problem}, status_code=503)
        detail = {"status": self.phase}
        if self.error:
            detail["error"] = self.error
        return JSONResponse(detail, status_code=503)

    async def _serving_problem(self) -> str:
        """Why TorchServe cannot serve now ("" if it can). The worker check is cached for
        WORKER_CHECK_S, so frequent probes cost TorchServe at most one call per interval."""
        assert self.ts is not None and self.management is not None
        if self.ts.exited() is not None:
            return f"TorchServe exited with status {self.ts.exited()}"
        now = time.monotonic()
        if now - self._workers_checked_at > WORKER_CHECK_S:
            self._workers_checked_at = now
            statuses = await self.ts.worker_status(self.management)
            # An unanswered query (busy frontend) keeps the last verdict.
            if statuses is not None:
                self._workers_ready = "READY" in statuses
        return "" if self._workers_ready else "no TorchServe worker is READY (restarting?)"

    async def predict(self, request: Request) -> Response:
        started = time.monotonic()
        instances, headers = 0, {}
        try:
            status, body, instances, headers = await self._predict(request)
        except ServeError as err:
            status, body = err.http_status, json.dumps(err.to_body()).encode()
        self.metrics.observe_request(status, time.monotonic() - started, instances)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def _predict(self, request: Request) -> tuple[int, bytes, int, dict[str, str]]:
        if self.phase != "ready" or self.ts is None or self.inference is None:
            raise Unavailable(f"the model is not ready (phase: {self.phase})")
        raw = await read_limited(request, self.serve.max_body_bytes)
        instances, _ = parse_body(raw)
        count = len(instances)
        if self.inflight_instances and self.inflight_instances + count > self.serve.max_queue:
            raise Overloaded(
                f"{self.inflight_instances} instances are in flight (limit "
                f"VXSERVE_MAX_QUEUE={self.serve.max_queue}); retry later"
            )
        self.inflight_instances += count
        self.metrics.inflight.inc()
        self.metrics.queue_depth.set(self.inflight_instances)
        try:
            async with asyncio.timeout(self.serve.predict_timeout_s):
                if self.bundler is not None:
                    answer = await self.bundler.submit(raw, count)
                else:
                    [answer] = await self._send([raw])
        except TimeoutError:
            raise DeadlineExceeded(
                f"the prediction did not finish within VXSERVE_PREDICT_TIMEOUT_S="
                f"{self.serve.predict_timeout_s:g} s"
            ) from None
        except UpstreamError as exc:
            raise Unavailable(f"TorchServe is not reachable ({exc})") from None
        finally:
            self.inflight_instances -= count
            self.metrics.inflight.dec()
            self.metrics.queue_depth.set(self.inflight_instances)
        headers = {BATCH_HEADER: str(answer.batch_requests)} if answer.batch_requests else {}
        return answer.status, answer.body, count, headers

    async def _send(self, bodies: list[bytes]) -> list[Answer]:
        """One request as the client sent it, or several as a bundle (vxts.bundling)."""
        assert self.inference is not None
        timeout = self.serve.predict_timeout_s
        if len(bodies) == 1:
            response = await self.inference.request(
                "POST", self._predict_path, bodies[0], timeout=timeout)
            batch = response.headers.get(BATCH_HEADER, "")
            return [Answer(response.status, _as_vertex_body(response),
                           int(batch) if batch.isdigit() else 0)]
        n = len(bodies)
        response = await self.inference.request(
            "POST", self._predict_path, bundle_body(bodies), timeout=timeout,
            headers={BUNDLE_HEADER: str(n)})
        if response.status != 200:
            # TorchServe failed the bundle as a whole (a worker died, its own timeout):
            # every request in it gets that error.
            return [Answer(response.status, _as_vertex_body(response), n)] * n
        parts = response.headers.get(PARTS_HEADER)
        if parts is None:
            raise UpstreamError(f"a bundle's answer has no {PARTS_HEADER} header")
        try:
            answers = split_answers(parts, response.body)
        except ValueError as exc:
            raise UpstreamError(f"a bundle's answer does not add up: {exc}") from None
        if len(answers) != n:
            raise UpstreamError(f"{n} requests in a bundle, {len(answers)} answers")
        return [Answer(status, body, n) for status, body in answers]

    async def metrics_route(self, request: Request) -> Response:
        """vxserve's metrics followed by TorchServe's own (ts_* and per-model timings)."""
        body, content_type = self.metrics.render()
        if self.ts is not None and self.ts_metrics is not None and self.ts.exited() is None:
            with contextlib.suppress(UpstreamError, TimeoutError):
                ts_metrics = await self.ts_metrics.request("GET", "/metrics", timeout=2.0)
                if ts_metrics.status == 200:
                    body += b"\n" + ts_metrics.body
        return Response(body, media_type=content_type)


_TS_ERRORS: dict[int, type[ServeError]] = {
    400: InvalidInput,
    413: PayloadTooLarge,
    503: Unavailable,
    504: DeadlineExceeded,
}


def _as_vertex_body(response: UpstreamResponse) -> bytes:
    """Handler answers pass through; TorchServe's own errors get the vxserve error shape."""
    if response.status == 200:
        return response.body
    try:
        body: Any = json.loads(response.body)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return response.body
    message = body.get("message") if isinstance(body, dict) else response.body[:500].decode(
        "utf-8", "replace")
    kind = _TS_ERRORS.get(response.status, ModelFailure)
    payload = kind(f"TorchServe: {message}").to_body()
    payload["error"]["code"] = response.status
    return json.dumps(payload).encode()


def create_app(settings: TorchServeSettings) -> Starlette:
    """The front app; routes come from AIP_HEALTH_ROUTE / AIP_PREDICT_ROUTE."""
    front = Front(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await front.start()
        try:
            yield
        finally:
            await front.stop()

    routes = [
        Route(settings.serve.health_route, front.health, methods=["GET"]),
        Route(settings.serve.predict_route, front.predict, methods=["POST"]),
        Route("/metrics", front.metrics_route, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.front = front
    return app
