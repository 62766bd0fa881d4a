"""A monitoring server on 127.0.0.1 with the real google-cloud-monitoring gRPC clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.alert_policy_service.transports import (
    AlertPolicyServiceGrpcTransport,
)
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)
from google.cloud.monitoring_v3.services.notification_channel_service.transports import (
    NotificationChannelServiceGrpcTransport,
)

from vxdeploy.emulator.monitoring import MetricsStore, start_monitoring_server


@dataclass
class Monitoring:
    state_dir: Path
    store: MetricsStore
    server: Any
    channel: grpc.Channel
    metrics: monitoring_v3.MetricServiceClient
    policies: monitoring_v3.AlertPolicyServiceClient
    channels: monitoring_v3.NotificationChannelServiceClient

    def close(self) -> None:
        self.channel.close()
        self.server.stop()


def connect(state_dir: Path, store: MetricsStore | None = None) -> Monitoring:
    store = store or MetricsStore(state_dir)
    server = start_monitoring_server(store, state_dir)
    channel = grpc.insecure_channel(server.target)
    return Monitoring(
        state_dir,
        store,
        server,
        channel,
        monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel)),
        monitoring_v3.AlertPolicyServiceClient(
            transport=AlertPolicyServiceGrpcTransport(channel=channel)
        ),
        monitoring_v3.NotificationChannelServiceClient(
            transport=NotificationChannelServiceGrpcTransport(channel=channel)
        ),
    )


@pytest.fixture
def mon(tmp_path: Path) -> Iterator[Monitoring]:
    m = connect(tmp_path / "state")
    yield m
    m.close()


@pytest.fixture
def reconnect():
    """Start a fresh server on the same state dir (an emulator restart)."""
    opened: list[Monitoring] = []

    def open_again(state_dir: Path, store: MetricsStore | None = None) -> Monitoring:
        again = connect(state_dir, store)
        opened.append(again)
        return again

    yield open_again
    for m in opened:
        m.close()


P99_FILTER = (
    'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_latencies" '
    'AND resource.type = "aiplatform.googleapis.com/Endpoint" '
    'AND metric.labels.latency_type = "total"'
)


def p99_condition(**threshold: Any) -> dict[str, Any]:
    """The p99-latency condition vxdeploy installs (vertex-reference.md section 7)."""
    spec: dict[str, Any] = {
        "filter": P99_FILTER,
        "aggregations": [
            {
                "alignment_period": {"seconds": 60},
                "per_series_aligner": monitoring_v3.Aggregation.Aligner.ALIGN_PERCENTILE_99,
                "cross_series_reducer": monitoring_v3.Aggregation.Reducer.REDUCE_MAX,
                "group_by_fields": [
                    "resource.label.endpoint_id",
                    "metric.label.deployed_model_id",
                ],
            }
        ],
        "comparison": monitoring_v3.ComparisonType.COMPARISON_GT,
        "threshold_value": 250.0,
        "duration": {"seconds": 120},
    }
    spec.update(threshold)
    return {"display_name": "p99 latency > 250 ms", "condition_threshold": spec}


@pytest.fixture
def p99():
    return p99_condition


@pytest.fixture
def policy_factory():
    def make(name: str = "vx p99", **overrides: Any) -> monitoring_v3.AlertPolicy:
        values: dict[str, Any] = {
            "display_name": name,
            "user_labels": {"managed-by": "vxdeploy", "profile": "local"},
            "combiner": monitoring_v3.AlertPolicy.ConditionCombinerType.OR,
            "conditions": [p99_condition()],
        }
        values.update(overrides)
        return monitoring_v3.AlertPolicy(**values)

    return make
