"""End to end with the real bundled flask server and the example sentiment model: two
model versions deployed side by side, the split honoured, the Monitoring API reading
back what the router recorded."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.emulator.conftest import PARENT, create_endpoint, deploy, upload

pytestmark = pytest.mark.slow


def _sentiment_model(types, artifacts):
    return types.Model(display_name="sentiment", artifact_uri=str(artifacts),
                       labels={"vxdeploy-container": "flask"},
                       container_spec=types.ModelContainerSpec(
                           image_uri="us-docker.pkg.dev/test/vxdeploy-flask:1"))


def test_two_versions_of_the_sentiment_model_split_and_metrics(v1, emulator,
                                                              sentiment_artifacts,
                                                              sentiment_instances):
    stable = upload(v1, _sentiment_model(v1.types, sentiment_artifacts), model_id="sentiment")
    canary_artifacts = sentiment_artifacts.parent / "torchscript-v2"
    if not canary_artifacts.is_dir():
        canary_artifacts = sentiment_artifacts
    canary = upload(v1, _sentiment_model(v1.types, canary_artifacts),
                    parent_model=stable.model)
    endpoint = create_endpoint(v1, "sentiment").name
    first = deploy(v1, endpoint, f"{stable.model}@1")
    second = deploy(v1, endpoint, f"{canary.model}@2", split={first.id: 80, "0": 20})
    assert second.model_version_id == "2"

    response = v1.predictions.predict(endpoint=endpoint, instances=sentiment_instances)
    assert len(response.predictions) == len(sentiment_instances)
    served = Counter(
        v1.predictions.predict(endpoint=endpoint, instances=sentiment_instances[:1])
        .deployed_model_id for _ in range(60))
    assert set(served) == {first.id, second.id}
    assert served[first.id] > served[second.id]
    # Both servers share this host: one torch thread per forward pass each, or their OpenMP
    # threads oversubscribe the cores (seconds per request while both answer).
    for server in emulator.emu.servers.describe():
        for replica in server["replicas"]:
            environ = Path(f"/proc/{replica['pid']}/environ").read_bytes().split(b"\0")
            assert b"VXSERVE_TORCH_THREADS=1" in environ

    # The Monitoring API (real client, gRPC) sees the routed predictions per deployed model.
    import grpc
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.metric_service.transports import (
        MetricServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(emulator.grpc_target)
    metrics = monitoring_v3.MetricServiceClient(
        transport=MetricServiceGrpcTransport(channel=channel))
    now = time.time()
    interval = monitoring_v3.TimeInterval(end_time={"seconds": int(now) + 60},
                                          start_time={"seconds": int(now) - 600})
    series = metrics.list_time_series(request={
        "name": "projects/test-project",
        "filter": 'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_count"'
                  ' AND resource.labels.endpoint_id = "sentiment"',
        "interval": interval})
    counted = {s.metric.labels["deployed_model_id"]: sum(p.value.int64_value for p in s.points)
               for s in series}
    # prediction_count counts instances: the first request carried all of them.
    batch = len(sentiment_instances)
    assert counted[first.id] + counted[second.id] == 60 + batch
    assert counted[first.id] == served[first.id] + batch * (response.deployed_model_id == first.id)
    channel.close()

    v1.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=second.id,
                                traffic_split={first.id: 100}).result(timeout=60)
    v1.endpoints.undeploy_model(endpoint=endpoint,
                                deployed_model_id=first.id).result(timeout=60)
    v1.endpoints.delete_endpoint(name=endpoint).result(timeout=30)
    v1.models.delete_model(name=stable.model).result(timeout=30)
    assert list(v1.models.list_models(parent=PARENT)) == []
