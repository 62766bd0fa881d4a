"""The emulator's own gRPC target serves Cloud Monitoring over what its router recorded:
error counts per deployed model after injected failures, and alert policies persisted in
its state dir."""

from __future__ import annotations

import time

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import monitoring_v3

from tests.emulator.conftest import create_endpoint, deploy, echo_model, upload

ONLINE = "aiplatform.googleapis.com/prediction/online/"


@pytest.fixture
def monitoring(emulator):
    from google.cloud.monitoring_v3.services.alert_policy_service.transports import (
        AlertPolicyServiceGrpcTransport,
    )
    from google.cloud.monitoring_v3.services.metric_service.transports import (
        MetricServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(emulator.grpc_target)
    yield (monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(
        channel=channel)), monitoring_v3.AlertPolicyServiceClient(
        transport=AlertPolicyServiceGrpcTransport(channel=channel)))
    channel.close()


def _total(metrics, metric: str, endpoint_id: str) -> dict[str, int]:
    now = int(time.time())
    series = metrics.list_time_series(request={
        "name": "projects/test-project",
        "filter": f'metric.type = "{ONLINE}{metric}" AND '
                  f'resource.labels.endpoint_id = "{endpoint_id}"',
        "interval": {"start_time": {"seconds": now - 600}, "end_time": {"seconds": now + 60}}})
    return {s.metric.labels["deployed_model_id"]: sum(p.value.int64_value for p in s.points)
            for s in series}


def test_router_records_feed_time_series_and_policies_persist(v1, admin, emulator, monitoring):
    metrics, policies = monitoring
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1, "watched").name
    dm = deploy(v1, endpoint, model)
    for _ in range(3):
        v1.predictions.predict(endpoint=endpoint, instances=[1, 2])
    admin.fault_deployed_model(dm.id, http_status=500)
    for _ in range(2):
        with pytest.raises(exceptions.InternalServerError):
            v1.predictions.predict(endpoint=endpoint, instances=[1], retry=None)

    assert _total(metrics, "error_count", "watched") == {dm.id: 2}
    assert _total(metrics, "prediction_count", "watched")[dm.id] >= 6

    policy = policies.create_alert_policy(name="projects/test-project", alert_policy={
        "display_name": "watched p99",
        "combiner": monitoring_v3.AlertPolicy.ConditionCombinerType.OR,
        "conditions": [{"display_name": "p99 > 250 ms", "condition_threshold": {
            "filter": f'resource.type = "aiplatform.googleapis.com/Endpoint" AND '
                      f'metric.type = "{ONLINE}prediction_latencies"',
            "aggregations": [{"alignment_period": {"seconds": 60},
                              "per_series_aligner":
                                  monitoring_v3.Aggregation.Aligner.ALIGN_PERCENTILE_99}],
            "comparison": monitoring_v3.ComparisonType.COMPARISON_GT,
            "threshold_value": 250.0, "duration": {"seconds": 60}}}]})
    assert [p.name for p in policies.list_alert_policies(name="projects/test-project")] == [
        policy.name]

    # Both survive a restart of the emulator on the same state dir.
    from google.cloud.monitoring_v3.services.alert_policy_service.transports import (
        AlertPolicyServiceGrpcTransport,
    )
    from google.cloud.monitoring_v3.services.metric_service.transports import (
        MetricServiceGrpcTransport,
    )

    from vxdeploy.emulator.server import EmulatorServer

    emulator.stop()
    restarted = EmulatorServer(emulator.state_dir).start()
    channel = grpc.insecure_channel(restarted.grpc_target)
    try:
        again = monitoring_v3.AlertPolicyServiceClient(
            transport=AlertPolicyServiceGrpcTransport(channel=channel))
        assert [p.name for p in again.list_alert_policies(name="projects/test-project")] == [
            policy.name]
        metrics_again = monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel))
        assert _total(metrics_again, "error_count", "watched") == {dm.id: 2}
    finally:
        channel.close()
        restarted.stop()
