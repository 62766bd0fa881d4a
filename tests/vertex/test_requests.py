"""The exact request bodies vxdeploy sends, as JSON on the wire (camelCase, proto3 JSON)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from tests.conftest import PROFILES
from vxdeploy.desired import desired_state
from vxdeploy.plan import deploy_request
from vxdeploy.profile import load_profile
from vxdeploy.vertex import requests as build
from vxdeploy.vertex.connection import needs_beta

IMAGE = "us-central1-docker.pkg.dev/my-project/vxdeploy/flask@sha256:" + "b" * 64


def wire(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(type(message).pb(message))


def desired_for(name: str, *overrides: str):
    profile = load_profile(name, PROFILES, environ={}, cli_overrides=overrides).profile
    return profile, desired_state(profile, IMAGE)


def test_spot_and_autoscaling_targets_on_the_deployed_model() -> None:
    from google.cloud import aiplatform_v1 as aip

    profile, desired = desired_for("staging-l4-spot")
    assert not needs_beta(profile)
    body = wire(build.deployed_model_message(aip, deploy_request(desired), "projects/p/models/m@1"))
    assert body == {
        "id": desired.deployed_model_id,
        "model": "projects/p/models/m@1",
        "displayName": f"sentiment-{desired.model.fingerprint[:8]}",
        "dedicatedResources": {
            "machineSpec": {"machineType": "g2-standard-8", "acceleratorType": "NVIDIA_L4",
                            "acceleratorCount": 1},
            "minReplicaCount": 1,
            "maxReplicaCount": 4,
            "spot": True,
            "autoscalingMetricSpecs": [{
                "metricName": "aiplatform.googleapis.com/prediction/online/accelerator/"
                              "duty_cycle",
                "target": 60}],
        },
    }


def test_prod_a100_requests_required_replicas_service_account_and_rpm_target() -> None:
    from google.cloud import aiplatform_v1 as aip

    _, desired = desired_for("prod-a100")
    body = wire(build.deployed_model_message(aip, deploy_request(desired), "m@1"))
    resources = body["dedicatedResources"]
    assert resources["machineSpec"] == {"machineType": "a2-highgpu-1g",
                                        "acceleratorType": "NVIDIA_TESLA_A100",
                                        "acceleratorCount": 1}
    assert resources["requiredReplicaCount"] == 1
    assert {s["metricName"].rsplit("/", 2)[-2] + "/" + s["metricName"].rsplit("/", 1)[-1]:
            s["target"] for s in resources["autoscalingMetricSpecs"]} == {
        "accelerator/duty_cycle": 60, "online/request_count": 6000}
    assert body["serviceAccount"] == "vxdeploy-serving@my-project.iam.gserviceaccount.com"


def test_scale_to_zero_goes_through_v1beta1_with_min_replicas_zero() -> None:
    from google.cloud import aiplatform_v1beta1 as beta

    profile, desired = desired_for("batch-scale-to-zero")
    assert needs_beta(profile)
    body = wire(build.deployed_model_message(beta, deploy_request(desired), "m@1"))
    resources = body["dedicatedResources"]
    # proto3 JSON omits minReplicaCount: 0 — Vertex reads the absence as zero
    assert "minReplicaCount" not in resources
    assert resources["maxReplicaCount"] == 2
    assert resources["scaleToZeroSpec"] == {"minScaleupPeriod": "600s",
                                            "idleScaledownPeriod": "1800s"}
    endpoint = wire(build.endpoint_message(beta, desired.endpoint))
    assert endpoint["dedicatedEndpointEnabled"] is True
    assert endpoint["clientConnectionConfig"] == {"inferenceTimeout": "1800s"}


def test_psc_endpoint_body() -> None:
    from google.cloud import aiplatform_v1 as aip

    _, desired = desired_for("prod-h100-psc")
    body = wire(build.endpoint_message(aip, desired.endpoint))
    assert body["privateServiceConnectConfig"] == {
        "enablePrivateServiceConnect": True,
        "projectAllowlist": ["my-project", "my-consumer-project"],
        "pscAutomationConfigs": [{"projectId": "my-consumer-project",
                                  "network": "projects/my-consumer-project/global/networks/"
                                             "serving"}],
    }
    assert "dedicatedEndpointEnabled" not in body and "network" not in body
    assert body["labels"]["managed-by"] == "vxdeploy"
    assert body["labels"]["vxdeploy-profile"] == "prod-h100-psc"


def test_public_endpoint_sends_no_timeout() -> None:
    from google.cloud import aiplatform_v1 as aip

    _, desired = desired_for("dev-cpu")
    body = wire(build.endpoint_message(aip, desired.endpoint))
    assert set(body) == {"displayName", "labels"}


def test_model_upload_body() -> None:
    from google.cloud import aiplatform_v1 as aip

    _, desired = desired_for("prod-a100")
    body = wire(build.model_message(aip, desired.model))
    assert body["containerSpec"] == {
        "imageUri": IMAGE,
        "env": [{"name": "VXSERVE_BATCH_DELAY_MS", "value": "5"},
                {"name": "VXSERVE_BATCH_SIZE", "value": "32"}],
        "ports": [{"containerPort": 8080}],
        "predictRoute": "/predict",
        "healthRoute": "/health",
    }
    assert body["artifactUri"] == "gs://my-project-models/sentiment/v1"
    assert body["labels"]["vxdeploy-fingerprint"] == desired.model.fingerprint
    assert body["labels"]["vxdeploy-container"] == "flask"


def test_p99_latency_alert_policy_body() -> None:
    _, desired = desired_for("prod-a100")
    latency = next(a for a in desired.alerts if a.kind == "latency")
    body = wire(build.alert_policy_message(latency, ["projects/my-project/notificationChannels/1"]))
    (condition,) = body["conditions"]
    threshold = condition["conditionThreshold"]
    assert threshold["filter"] == (
        'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_latencies" AND '
        'resource.type = "aiplatform.googleapis.com/Endpoint" AND '
        'resource.labels.endpoint_id = "sentiment-prod" AND metric.labels.latency_type = "total"')
    assert threshold["aggregations"] == [{
        "alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_PERCENTILE_99",
        "crossSeriesReducer": "REDUCE_MAX",
        "groupByFields": ["resource.label.endpoint_id", "metric.label.deployed_model_id"]}]
    assert threshold["comparison"] == "COMPARISON_GT"
    assert threshold["thresholdValue"] == 400
    assert threshold["duration"] == "300s"
    assert body["notificationChannels"] == ["projects/my-project/notificationChannels/1"]
    assert body["enabled"] is True
    assert body["userLabels"] == {"managed-by": "vxdeploy", "vxdeploy-endpoint": "sentiment-prod",
                                  "vxdeploy-alert": "latency"}


def test_error_rate_alert_is_a_ratio_of_errors_to_predictions() -> None:
    _, desired = desired_for("prod-a100")
    errors = next(a for a in desired.alerts if a.kind == "errors")
    threshold = wire(build.alert_policy_message(errors, []))["conditions"][0][
        "conditionThreshold"]
    assert "prediction/online/error_count" in threshold["filter"]
    assert "prediction/online/prediction_count" in threshold["denominatorFilter"]
    assert threshold["thresholdValue"] == 0.01
    assert threshold["denominatorAggregations"][0]["perSeriesAligner"] == "ALIGN_DELTA"
