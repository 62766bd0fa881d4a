"""Prometheus metrics for one model server, in a registry of its own.

A private registry (not prometheus_client's global one) keeps several servers in one
process (tests, the emulator) from mixing their numbers.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """Requests, latency, batch sizes, queue depth, in-flight requests and readiness."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "vxserve_requests", "Prediction requests by HTTP status code.", ["code"], registry=r
        )
        self.latency = Histogram(
            "vxserve_request_latency_seconds",
            "Prediction request latency, end to end in the server.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.instances = Counter("vxserve_instances", "Instances predicted.", registry=r)
        self.batch_size = Histogram(
            "vxserve_batch_size", "Instances per forward pass.", buckets=BATCH_BUCKETS, registry=r
        )
        self.queue_depth = Gauge(
            "vxserve_queue_depth", "Instances waiting for a forward pass.", registry=r
        )
        self.inflight = Gauge(
            "vxserve_inflight_requests", "Prediction requests being served.", registry=r
        )
        self.ready = Gauge(
            "vxserve_model_ready", "1 once the model is loaded and warmed up.", registry=r
        )
        self.batching = Gauge(
            "vxserve_batching_enabled", "1 when dynamic batching is on.", registry=r
        )

    def observe_request(self, code: int, seconds: float, instances: int) -> None:
        self.requests.labels(code=str(code)).inc()
        self.latency.observe(seconds)
        if code == 200:
            self.instances.inc(instances)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for a /metrics route."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
