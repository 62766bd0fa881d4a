"""The Vertex AI metric types the emulator knows, and which of them it can compute.

Policy validation rejects a filter on an `aiplatform.googleapis.com/` type that is not
here, as Cloud Monitoring does (e.g. `prediction/latencies` without `/online/` is a
common mistake that real Vertex also refuses).
"""

from __future__ import annotations

from dataclasses import dataclass

from vxdeploy.names import (
    CPU_METRIC,
    DUTY_CYCLE_METRIC,
    ENDPOINT_RESOURCE_TYPE,
    ERROR_COUNT_METRIC,
    LATENCY_METRIC,
    METRIC_PREFIX,
    PREDICTION_COUNT_METRIC,
    RESPONSE_METRIC,
    VERTEX_METRIC_DOMAIN,
)

# The names come from vxdeploy.names, so the types the emulator records and the ones the
# alerts and rollout gates ask for are the same strings.
DOMAIN = VERTEX_METRIC_DOMAIN
ONLINE = METRIC_PREFIX + "/"
RESOURCE_TYPE = ENDPOINT_RESOURCE_TYPE
RESOURCE_LABELS = ("resource_container", "location", "endpoint_id")

# Metric kinds and value types, named as in google.api.MetricDescriptor.
DELTA, GAUGE = "DELTA", "GAUGE"
INT64, DOUBLE, DISTRIBUTION = "INT64", "DOUBLE", "DISTRIBUTION"


@dataclass(frozen=True)
class MetricInfo:
    type: str
    kind: str
    value_type: str
    unit: str
    labels: tuple[str, ...]
    description: str
    computed: bool  # derived from recorded predictions; False: known but never has data


METRICS: dict[str, MetricInfo] = {
    m.type: m
    for m in (
        MetricInfo(
            LATENCY_METRIC,
            DELTA,
            DISTRIBUTION,
            "ms",
            ("deployed_model_id", "latency_type"),
            "Online prediction latency of the deployed model.",
            True,
        ),
        MetricInfo(
            PREDICTION_COUNT_METRIC,
            DELTA,
            INT64,
            "1",
            ("deployed_model_id",),
            "Number of online predictions (instances in successful requests).",
            True,
        ),
        MetricInfo(
            ERROR_COUNT_METRIC,
            DELTA,
            INT64,
            "1",
            ("deployed_model_id",),
            "Number of online prediction errors (requests answered 4xx or 5xx).",
            True,
        ),
        MetricInfo(
            RESPONSE_METRIC,
            DELTA,
            INT64,
            "1",
            ("deployed_model_id", "response_code"),
            "Number of online prediction responses, by response code.",
            True,
        ),
        MetricInfo(
            ONLINE + "replicas",
            GAUGE,
            INT64,
            "1",
            ("deployed_model_id",),
            "Number of active replicas used by the deployed model.",
            False,
        ),
        MetricInfo(
            ONLINE + "target_replicas",
            GAUGE,
            INT64,
            "1",
            ("deployed_model_id",),
            "Target number of active replicas needed for the deployed model.",
            False,
        ),
        MetricInfo(
            CPU_METRIC,
            GAUGE,
            DOUBLE,
            "10^2.%",
            ("deployed_model_id", "replica_id"),
            "CPU utilization.",
            False,
        ),
        MetricInfo(
            ONLINE + "memory/bytes_used",
            GAUGE,
            INT64,
            "By",
            ("deployed_model_id", "replica_id"),
            "Memory used.",
            False,
        ),
        MetricInfo(
            DUTY_CYCLE_METRIC,
            GAUGE,
            DOUBLE,
            "10^2.%",
            ("deployed_model_id", "replica_id"),
            "Accelerator duty cycle.",
            False,
        ),
        MetricInfo(
            ONLINE + "accelerator/memory/bytes_used",
            GAUGE,
            INT64,
            "By",
            ("deployed_model_id", "replica_id"),
            "Accelerator memory used.",
            False,
        ),
        MetricInfo(
            ONLINE + "network/received_bytes_count",
            DELTA,
            INT64,
            "By",
            ("deployed_model_id", "replica_id"),
            "Bytes received.",
            False,
        ),
        MetricInfo(
            ONLINE + "network/sent_bytes_count",
            DELTA,
            INT64,
            "By",
            ("deployed_model_id", "replica_id"),
            "Bytes sent.",
            False,
        ),
    )
}

# Domains whose metric types are user-defined: any type name there may exist.
OPEN_DOMAINS = (
    "custom.googleapis.com/",
    "external.googleapis.com/",
    "workload.googleapis.com/",
    "logging.googleapis.com/user/",
    "prometheus.googleapis.com/",
)


def check_metric_type(metric_type: str) -> MetricInfo | None:
    """The known metric, None for a type in another domain; ValueError when it cannot exist."""
    if metric_type in METRICS:
        return METRICS[metric_type]
    if metric_type.startswith(DOMAIN):
        leaf = metric_type.rsplit("/", 1)[-1]
        near = [t for t in METRICS if t.rsplit("/", 1)[-1].endswith(leaf)]
        hint = f" (did you mean {near[0]}?)" if near else ""
        known = ", ".join(sorted(t[len(ONLINE) :] for t in METRICS))
        raise ValueError(
            f"metric type {metric_type!r} does not exist{hint}; known Vertex online "
            f"prediction metrics: {ONLINE}{{{known}}}"
        )
    return None
