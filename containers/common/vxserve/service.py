"""The prediction service: the whole Vertex serving contract, independent of any web framework.

A web adapter (Flask in containers/flask, anything else elsewhere) only moves bytes:
it passes the request body to `predict` and writes back the (status, JSON body) it gets;
`health` and `metrics` likewise. Everything a client can observe — readiness after
warm-up, limits, error statuses, batching, drain — is decided here, so every server built
on vxserve behaves the same and is tested once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from .artifacts import fetch_artifacts, read_manifest
from .batching import Batcher, Work, as_serve_error, run_group
from .config import ServeConfig, model_workers
from .device import is_out_of_memory, release_cached_memory
from .errors import (
    NESTED_TOO_DEEPLY,
    DeadlineExceeded,
    InvalidInput,
    PayloadTooLarge,
    ServeError,
    Unavailable,
)
from .handler import BaseHandler, ModelContext, group_by_key, load_handler, quick_hooks
from .metrics import ServeMetrics
from .precision import cpu_autocast_warning, measure_drift

log = logging.getLogger("vxserve")

LOADING, READY, DRAINING, FAILED = "loading", "ready", "draining", "failed"
SPLIT_BELOW_SPEEDUP = 2.0  # see PredictionService._split_requests


class PredictionService:
    """Owns the handler, the batcher, the metrics and the server's lifecycle state."""

    def __init__(
        self,
        config: ServeConfig,
        *,
        handler: BaseHandler | None = None,
        metrics: ServeMetrics | None = None,
        select_device: Callable[[ServeConfig], Any] | None = None,
    ):
        self.config = config
        self.handler = handler
        self.metrics = metrics or ServeMetrics()
        self._select_device = select_device
        self.state = LOADING
        self.failure = ""
        self.batching = False
        self.batching_reason = ""
        self.batcher: Batcher | None = None
        self._probe_pending = False
        # Cut a multi-instance request into a part per model worker (see _chunks)? Only
        # while batching is not known to pay much: where a batch of 16 is >= 2x cheaper
        # per instance than 1 (the tutorial's LSTM: ~4x), halves cost far more CPU than
        # they save in wall time, and lost to the tutorial's server on a busy machine.
        self._split_requests = True
        # A forward pass's fixed cost (its time at batch 0, by the warm-up's two points):
        # how long a free model worker waits for a bigger batch (Batcher.patience_s).
        self._pass_overhead_s: float | None = None
        self._device: Any = None
        self._inflight = 0
        self._cond = threading.Condition()
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def load(self) -> None:
        """Fetch artifacts, build the handler, load and warm the model, then turn ready.

        A failure leaves the server up with health 503 and the reason in its body, so the
        cause is visible from outside instead of a crash loop.
        """
        started = time.monotonic()
        try:
            self._load()
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            self.state = FAILED
            log.exception("model load failed")
            return
        with self._cond:
            if self.state == LOADING:
                self.state = READY
        self.metrics.ready.set(1)
        log.info(
            "model ready in %.2fs (batching %s: %s; %d model worker(s))",
            time.monotonic() - started,
            "on" if self.batching else "off",
            self.batching_reason,
            self.batcher.workers if self.batcher is not None else 1,
        )

    def load_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.load, name="vxserve-load", daemon=True)
        thread.start()
        return thread

    def _load(self) -> None:
        from .device import select_device

        directory = fetch_artifacts(self.config.storage_uri, self.config.cache_dir)
        manifest = read_manifest(directory)
        if self.handler is None:
            self.handler = load_handler(self.config.handler or manifest.handler, manifest.directory)
        device = (self._select_device or select_device)(self.config)
        if self.config.autocast != "off":
            warning = cpu_autocast_warning(self.config.autocast, device)
            if warning:
                log.warning(warning)
        self.handler.initialize(ModelContext(self.config, manifest, device))
        examples = self.handler.warmup_instances() if self.config.warmup else []
        self._device = device
        on_gpu = getattr(device, "type", "cpu") == "cuda"
        if not examples and self.config.batching == "auto" and not on_gpu:
            # No manifest examples or input shape (a state dict and model code alone):
            # decide on the first good request's own instances instead of turning
            # batching off for good, which made such a model slower than a plain server.
            self._probe_pending = True
            self.batching_reason = (
                "auto: no example_instances or input.shape in vxserve.json; "
                "will measure on the first request's instances"
            )
            return
        self.batching, self.batching_reason = self._decide_batching(examples, device)
        if self.batching:
            self._start_batcher(device)
        self.metrics.batching.set(1 if self.batching else 0)

    def _start_batcher(self, device: Any) -> None:
        assert self.handler is not None
        if self.config.switch_interval_ms > 0:
            sys.setswitchinterval(self.config.switch_interval_ms / 1000.0)
        batcher = Batcher(
            self.handler,
            max_batch_size=self.config.batch_size,
            max_delay_s=self.config.batch_delay_ms / 1000.0,
            max_queue=self.config.max_queue,
            workers=model_workers(self.config, getattr(device, "type", "cpu")),
            on_batch=self.metrics.batch_size.observe,
            on_queue_depth=self.metrics.queue_depth.set,
            patience_s=self._pass_overhead_s,
        )
        batcher.start()
        self.batcher = batcher

    def _probe_batching(self, instances: list[Any]) -> None:
        """Background: decide batching on a real request's instances (see _load)."""
        try:
            on, reason = self._decide_batching(instances, self._device)
        except Exception as exc:  # the request itself succeeded: keep serving unbatched
            on, reason = False, f"auto: measuring on the first request failed ({exc})"
        reason += " (measured on the first request: no examples in vxserve.json)"
        if on:
            self._start_batcher(self._device)
        self.batching, self.batching_reason = on, reason
        self.metrics.batching.set(1 if on else 0)
        log.info("batching %s: %s", "on" if on else "off", reason)

    def _decide_batching(self, examples: list[Any], device: Any) -> tuple[bool, str]:
        """Warm up, and for VXSERVE_BATCHING=auto measure whether batching pays here."""
        mode = self.config.batching
        if not examples:
            if self.config.warmup:
                log.warning(
                    "no warm-up instances (set example_instances or input.shape in vxserve.json)"
                )
            if mode == "auto" and getattr(device, "type", "cpu") == "cuda":
                return True, "auto: GPU (no warm-up instances to measure)"
            return mode == "on", f"VXSERVE_BATCHING={mode}, no warm-up instances"
        handler = self.handler
        assert handler is not None
        n = max(2, min(self.config.batch_size, 16))
        single = handler.preprocess(examples[:1], {})
        many = handler.preprocess([examples[i % len(examples)] for i in range(n)], {})
        for _ in range(2):  # first passes pay for lazy init, allocator growth, JIT
            handler.handle(examples[:1], {})
        try:
            for _ in range(2):
                handler.inference(handler.collate(many))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            release_cached_memory()
            log.warning("warm-up: a batch of %d ran out of memory; big batches will be split", n)
            if mode == "auto":
                return False, f"auto: a batch of {n} does not fit in memory"
        self._report_drift(examples, device)
        if mode != "auto":
            return mode == "on", f"VXSERVE_BATCHING={mode}"
        if getattr(device, "type", "cpu") == "cuda":
            return True, "auto: GPU"
        t1, tn = _best_times(
            lambda: handler.inference(handler.collate(single)),
            lambda: handler.inference(handler.collate(many)),
        )
        speedup = n * t1 / tn if tn > 0 else 1.0
        self._split_requests = speedup < SPLIT_BELOW_SPEEDUP
        per_instance = max(0.0, (tn - t1) / (n - 1))
        self._pass_overhead_s = max(0.0, t1 - per_instance)
        reason = (
            f"auto: a batch of {n} is {speedup:.1f}x faster per instance than 1 (a pass "
            f"costs {1000 * self._pass_overhead_s:.2f} ms + {1000 * per_instance:.2f} ms "
            "per instance)"
        )
        if not self._split_requests:
            reason += "; a request's instances stay in one forward pass"
        # Below ~1.3x the hand-off to the batching thread costs more than it saves.
        return speedup >= 1.3, reason

    def _report_drift(self, examples: list[Any], device: Any) -> None:
        """Log how far VXSERVE_AUTOCAST moves the outputs on (up to 16 of) the examples."""
        if self.config.autocast == "off":
            return
        handler = self.handler
        assert handler is not None
        try:
            items = handler.preprocess(examples[:16], {})
            first_group = next(iter(group_by_key(handler, items).values()))
            batch = handler.collate([items[i] for i in first_group])
            drift = measure_drift(handler, batch, self.config.autocast, device)
        except Exception as exc:  # a report, not a gate: serving goes on without it
            log.warning("could not measure what VXSERVE_AUTOCAST changes: %s", exc)
            return
        if drift is not None:
            log.info("%s", drift.describe())

    def begin_drain(self) -> None:
        """Stop taking predictions (503) and turn health 503; in-flight ones finish."""
        with self._cond:
            if self.state != DRAINING:
                log.info("draining: %d request(s) in flight", self._inflight)
            self.state = DRAINING
            self._cond.notify_all()
        self.metrics.ready.set(0)

    def wait_drained(self, timeout: float | None = None) -> bool:
        """Block until no prediction is in flight; False if `timeout` passed first."""
        timeout = self.config.drain_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.stop()

    def drain_then(self, callback: Callable[[], None]) -> threading.Thread:
        """SIGTERM helper: drain in a thread (signal handlers must return fast), then call back."""

        def run() -> None:
            self.begin_drain()
            drained = self.wait_drained()
            log.info("drained" if drained else "drain timeout passed; stopping anyway")
            self.close()
            callback()

        thread = threading.Thread(target=run, name="vxserve-drain", daemon=True)
        thread.start()
        return thread

    @property
    def inflight(self) -> int:
        return self._inflight

    # -- routes ------------------------------------------------------------------------
    def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"status": self.state}
        if self.state == FAILED:
            body["error"] = self.failure
        if self.state == READY:
            body["batching"] = self.batching
        return (200 if self.state == READY else 503), body

    def predict(self, body: bytes, content_length: int | None = None) -> tuple[int, dict[str, Any]]:
        """Serve one {"instances": [...], "parameters": {...}} request body (blocking)."""
        started = time.monotonic()
        refused = self._admit(started)
        if refused is not None:
            return refused
        arrived = [self.batcher is None]
        instances: list[Any] = []
        try:
            instances, parameters = self._parse(body, content_length)
            status, result = 200, {"predictions": self._predict(instances, parameters, arrived)}
            if self._probe_pending:
                self._claim_probe(instances)
        except Exception as exc:
            status, result = self._error(exc)
        finally:
            self._release(arrived)
        self.metrics.observe_request(status, time.monotonic() - started, len(instances))
        return status, result

    async def predict_async(
        self, body: bytes, content_length: int | None = None
    ) -> tuple[int, dict[str, Any]]:
        """`predict` for an event loop: the same answers, without a thread per request.

        With batching on and the handler's pre/post-processing vxserve's own (quick, no
        I/O), the request is parsed on the loop, its instances queued for the model
        workers, and the loop awaits the batch. Hopping to a thread pool and back cost
        ~0.4 ms CPU per request, more than all the HTTP handling. Anything
        else (a custom handler's code may block, batching off or still undecided) runs
        the blocking `predict` in a worker thread.
        """
        batcher = self.batcher
        handler = self.handler
        if batcher is None or handler is None or not quick_hooks(handler):
            return await asyncio.get_running_loop().run_in_executor(
                self._request_threads(), self.predict, body, content_length
            )
        started = time.monotonic()
        refused = self._admit(started)
        if refused is not None:
            return refused
        arrived = [False]
        instances: list[Any] = []
        try:
            instances, parameters = self._parse(body, content_length)
            predictions = await self._predict_on_loop(batcher, instances, parameters, arrived)
            status, result = 200, {"predictions": predictions}
        except Exception as exc:
            status, result = self._error(exc)
        finally:
            self._release(arrived)
        self.metrics.observe_request(status, time.monotonic() - started, len(instances))
        return status, result

    def _request_threads(self) -> ThreadPoolExecutor:
        """The pool for blocking requests (made on first use; VXSERVE_HTTP_THREADS wide)."""
        with self._cond:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.config.http_threads, thread_name_prefix="vxserve-request"
                )
            return self._pool

    def _admit(self, started: float) -> tuple[int, dict[str, Any]] | None:
        """Count the request in flight and announce it to the batcher; or the 503 to send."""
        with self._cond:
            admitted = self.state == READY
            if admitted:
                self._inflight += 1
        if not admitted:
            err: ServeError = Unavailable(
                "the server is draining"
                if self.state == DRAINING
                else f"the model is not ready ({self.state})"
            )
            self.metrics.observe_request(err.http_status, time.monotonic() - started, 0)
            return err.http_status, err.to_body()
        self.metrics.inflight.inc()
        if self.batcher is not None:
            self.batcher.announce()
        return None

    def _release(self, arrived: list[bool]) -> None:
        self.metrics.inflight.dec()
        if not arrived[0] and self.batcher is not None:
            self.batcher.withdraw()
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    @staticmethod
    def _error(exc: Exception) -> tuple[int, dict[str, Any]]:
        if isinstance(exc, ServeError):
            return exc.http_status, exc.to_body()
        log.error("prediction failed", exc_info=exc)  # a handler bug: the server lives on
        err = as_serve_error(exc)
        return err.http_status, err.to_body()

    def _claim_probe(self, instances: list[Any]) -> None:
        with self._cond:
            if not self._probe_pending:
                return
            self._probe_pending = False
        threading.Thread(
            target=self._probe_batching, args=(instances[:1],), name="vxserve-probe", daemon=True
        ).start()

    def _parse(self, body: bytes, content_length: int | None) -> tuple[list[Any], dict[str, Any]]:
        limit = self.config.max_body_bytes
        size = content_length if content_length is not None else len(body)
        if size > limit or len(body) > limit:
            raise PayloadTooLarge(
                f"request body is {max(size, len(body))} bytes; the limit is {limit} "
                "(VXSERVE_MAX_BODY_BYTES); send fewer instances per request"
            )
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidInput(NESTED_TOO_DEEPLY) from None
        if not isinstance(payload, dict):
            raise InvalidInput(
                'request body must be a JSON object like {"instances": [...]}, '
                f"got {type(payload).__name__}"
            )
        if "instances" not in payload:
            keys = ", ".join(sorted(payload)) or "none"
            raise InvalidInput(f'request body has no "instances" (keys: {keys})')
        instances = payload["instances"]
        if not isinstance(instances, list):
            raise InvalidInput(f'"instances" must be a list, got {type(instances).__name__}')
        if not instances:
            raise InvalidInput('"instances" is empty: send at least one instance')
        parameters = payload.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidInput(f'"parameters" must be an object, got {type(parameters).__name__}')
        return instances, parameters

    def _predict(
        self, instances: list[Any], parameters: dict[str, Any], arrived: list[bool]
    ) -> list[Any]:
        handler = self.handler
        assert handler is not None
        works = self._works(instances, parameters)
        if self.batcher is not None:
            futures = []
            for n, (indices, w) in enumerate(works):
                last = n == len(works) - 1
                futures.append((indices, self.batcher.submit(w.key, w.items, arrived=last)))
                arrived[0] = last
        else:
            for _, w in works:
                run_group(handler, [w])
            futures = [(indices, w.future) for indices, w in works]
        deadline = time.monotonic() + self.config.predict_timeout_s
        predictions: list[Any] = [None] * len(instances)
        for indices, future in futures:
            try:
                outputs = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                raise self._deadline_exceeded() from None
            self._place(indices, handler.postprocess(outputs, parameters), predictions)
        return predictions

    async def _predict_on_loop(
        self,
        batcher: Batcher,
        instances: list[Any],
        parameters: dict[str, Any],
        arrived: list[bool],
    ) -> list[Any]:
        handler = self.handler
        assert handler is not None
        works = self._works(instances, parameters)
        loop = asyncio.get_running_loop()
        pending = []
        for n, (indices, w) in enumerate(works):
            last = n == len(works) - 1
            ready = loop.create_future()
            slot = batcher.submit(
                w.key, w.items, arrived=last, inline=False,
                on_done=functools.partial(_notify, loop, ready),
            )
            arrived[0] = last
            pending.append((indices, slot, ready))
        deadline = time.monotonic() + self.config.predict_timeout_s
        predictions: list[Any] = [None] * len(instances)
        for indices, slot, ready in pending:
            try:
                await asyncio.wait_for(ready, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise self._deadline_exceeded() from None
            self._place(indices, handler.postprocess(slot.result(0), parameters), predictions)
        return predictions

    def _works(
        self, instances: list[Any], parameters: dict[str, Any]
    ) -> list[tuple[list[int], Work]]:
        """Preprocess a request and cut it into queueable works (index lists kept for order)."""
        handler = self.handler
        assert handler is not None
        items = handler.preprocess(instances, parameters)
        if len(items) != len(instances):
            raise InvalidInput(
                f"{len(instances)} instances became {len(items)} inputs in preprocess"
            )
        groups = group_by_key(handler, items)
        parts = self.batcher.workers if self.batcher is not None and self._split_requests else 1
        return [
            (chunk, Work(key, [items[i] for i in chunk]))
            for key, indices in groups.items()
            for chunk in _chunks(indices, parts)
        ]

    @staticmethod
    def _place(indices: list[int], results: list[Any], predictions: list[Any]) -> None:
        if len(results) != len(indices):
            raise InvalidInput(
                f"postprocess returned {len(results)} predictions for {len(indices)} instances"
            )
        for i, p in zip(indices, results, strict=True):
            predictions[i] = p

    def _deadline_exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"prediction took longer than {self.config.predict_timeout_s:g}s "
            "(VXSERVE_PREDICT_TIMEOUT_S)"
        )


def _notify(loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
    """From a model worker: wake the loop awaiting `ready` (gone already at a hard stop)."""
    with contextlib.suppress(RuntimeError):  # the loop was closed
        loop.call_soon_threadsafe(_resolve, ready)


def _resolve(ready: asyncio.Future[None]) -> None:
    if not ready.done():  # the request may have been cancelled (client gone, timeout)
        ready.set_result(None)


def _chunks(indices: list[int], parts: int) -> list[list[int]]:
    """`indices` cut into up to `parts` runs of near-equal length.

    A request's instances are queued as one work per model worker: idle workers run them
    side by side, busy ones batch them back together (see Batcher._limit).
    """
    parts = max(1, min(parts, len(indices)))
    size = -(-len(indices) // parts)
    return [indices[i : i + size] for i in range(0, len(indices), size)]


def _best_times(
    first: Callable[[], Any], second: Callable[[], Any], rounds: int = 15, budget_s: float = 2.0
) -> tuple[float, float]:
    """Cheapest run of each in CPU time (all of this process's threads), in alternation.

    CPU time, not wall time: on a busy shared host a longer run is more likely to be
    preempted, so wall-clock minima make big batches look worse than they are.
    """
    best = [float("inf"), float("inf")]
    deadline = time.monotonic() + budget_s
    for _ in range(rounds):
        for i, fn in enumerate((first, second)):
            t = time.process_time()
            fn()
            best[i] = min(best[i], time.process_time() - t)
        if time.monotonic() > deadline:
            break
    return best[0], best[1]
