"""DeployModel really starts servers; Predict routes by split; Vertex's deploy rules hold."""

from __future__ import annotations

import os
import re
import time
from collections import Counter

import pytest
import requests
from google.api_core import exceptions

from tests.emulator.conftest import (
    PARENT,
    create_endpoint,
    dedicated,
    deploy,
    echo_model,
    error_status,
    upload,
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deploy_starts_a_server_with_vertex_env_and_predict_adds_fields(v1, emulator, tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "w.bin").write_bytes(b"w")
    model = echo_model(v1.types, display_name="echo-model")
    model.artifact_uri = str(artifacts)
    uploaded = upload(v1, model, model_id="echo")
    endpoint = create_endpoint(v1, "ep1")
    dm = deploy(v1, endpoint.name, uploaded.model)
    assert dm.id and dm.model == uploaded.model and dm.model_version_id == "1"
    assert dm.display_name == "echo-model" and dm.create_time

    live = v1.endpoints.get_endpoint(name=endpoint.name)
    assert dict(live.traffic_split) == {dm.id: 100}
    assert [d.id for d in live.deployed_models] == [dm.id]
    refs = v1.models.get_model(name=uploaded.model).deployed_models
    assert [(r.endpoint, r.deployed_model_id) for r in refs] == [(endpoint.name, dm.id)]

    response = v1.predictions.predict(endpoint=endpoint.name, instances=[[1, 2], [3]])
    assert response.deployed_model_id == dm.id
    assert response.model == uploaded.model
    assert response.model_version_id == "1"
    assert response.model_display_name == "echo-model"
    predictions = [dict(p) for p in response.predictions]
    assert [p["served_by"] for p in predictions] == [dm.id, dm.id]
    assert list(predictions[1]["instance"]) == [3]

    (server,) = emulator.emu.servers.describe()
    env = requests.get(server["replicas"][0]["base_url"] + "/env", timeout=5).json()
    assert env["AIP_DEPLOYED_MODEL_ID"] == dm.id
    assert env["AIP_ENDPOINT_ID"] == "ep1"
    assert env["AIP_MODEL_NAME"] == "echo" and env["AIP_VERSION_NAME"] == "1"
    assert env["AIP_HEALTH_ROUTE"] == "/health" and env["AIP_PREDICT_ROUTE"] == "/predict"
    assert env["AIP_MACHINE_TYPE"] == "n1-standard-2"
    assert "AIP_ACCELERATOR_TYPE" not in env  # Vertex leaves it unset on CPU
    assert env["AIP_FRAMEWORK"] == "CUSTOM_CONTAINER" and env["AIP_MODE"] == "PREDICTION"
    assert env["AIP_MODE_VERSION"] == "1.0.0" and env["AIP_PROJECT_NUMBER"].isdigit()
    assert env["AIP_STORAGE_URI"].startswith(str(emulator.state_dir))
    assert os.path.exists(os.path.join(env["AIP_STORAGE_URI"], "w.bin"))
    # Servers' caches (the TensorRT container's ONNX exports) stay in the state directory.
    assert env["VXSERVE_CACHE_DIR"] == str(emulator.state_dir / "cache")

    records = emulator.emu.metrics.visible()
    assert [
        (r.endpoint_id, r.deployed_model_id, r.response_code, r.instance_count) for r in records
    ] == [("ep1", dm.id, 200, 2)]
    assert records[0].latency_ms > 0


def test_split_routing_update_and_undeploy_rules(v1, emulator):
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    first = deploy(v1, endpoint, model)
    second = deploy(v1, endpoint, model, split={first.id: 70, "0": 30})
    split = dict(v1.endpoints.get_endpoint(name=endpoint).traffic_split)
    assert split == {first.id: 70, second.id: 30}

    served = Counter(
        v1.predictions.predict(endpoint=endpoint, instances=[0]).deployed_model_id
        for _ in range(200)
    )
    assert set(served) == {first.id, second.id}
    assert 110 <= served[first.id] <= 170, served  # 140 expected; seeded, generous bounds

    with pytest.raises(exceptions.BadRequest) as caught:
        v1.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=second.id)
    assert error_status(caught.value) == "FAILED_PRECONDITION"
    assert "30% of the traffic" in str(caught.value)

    current = v1.endpoints.get_endpoint(name=endpoint)
    with pytest.raises(exceptions.BadRequest, match="must be 100, got 90"):
        v1.endpoints.update_endpoint(
            endpoint=v1.types.Endpoint(name=endpoint, traffic_split={first.id: 60, second.id: 30}),
            update_mask={"paths": ["traffic_split"]},
        )
    v1.endpoints.update_endpoint(
        endpoint=v1.types.Endpoint(
            name=endpoint, etag=current.etag, traffic_split={second.id: 100}
        ),
        update_mask={"paths": ["traffic_split"]},
    )
    assert {
        v1.predictions.predict(endpoint=endpoint, instances=[0]).deployed_model_id
        for _ in range(20)
    } == {second.id}

    first_pid = next(
        s for s in emulator.emu.servers.describe() if s["deployed_model_id"] == first.id
    )["replicas"][0]["pid"]
    v1.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=first.id).result(timeout=60)
    assert not _pid_alive(first_pid) or _zombie(first_pid)
    # The last model may go even with 100%: the split ends empty.
    v1.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=second.id).result(timeout=60)
    live = v1.endpoints.get_endpoint(name=endpoint)
    assert list(live.deployed_models) == [] and dict(live.traffic_split) == {}
    assert emulator.emu.servers.describe() == []


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize(
    ("machine", "accelerator", "count", "message"),
    [
        ("n1-standard-8", "NVIDIA_TESLA_A100", 1, "needs a2-highgpu"),
        ("n1-mega-7", None, 0, "not supported for online prediction"),
        ("g2-standard-8", "NVIDIA_L4", 2, "allowed: 1"),
        ("n1-standard-4", "NVIDIA_TESLA_T4", 3, "allowed: 1, 2, 4"),
    ],
)
def test_invalid_machine_and_accelerator(v1, machine, accelerator, count, message):
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    spec = v1.types.MachineSpec(machine_type=machine, accelerator_count=count)
    if accelerator:
        spec.accelerator_type = accelerator
    with pytest.raises(exceptions.BadRequest) as caught:
        v1.endpoints.deploy_model(
            endpoint=endpoint,
            deployed_model=v1.types.DeployedModel(
                model=model,
                dedicated_resources=v1.types.DedicatedResources(
                    machine_spec=spec, min_replica_count=1, max_replica_count=1
                ),
            ),
            traffic_split={"0": 100},
        )
    assert message in str(caught.value)
    assert error_status(caught.value) == "INVALID_ARGUMENT"


def test_deploy_split_and_replica_rules(v1, emulator):
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    for split, message in (
        ({"0": 50}, "must be 100, got 50"),
        ({"0": 50, "77": 50}, 'key "77" is not a DeployedModel id'),
    ):
        with pytest.raises(exceptions.BadRequest, match=message):
            deploy(v1, endpoint, model, split=split)
    with pytest.raises(exceptions.BadRequest, match="min_replica_count must be >= 1"):
        deploy(v1, endpoint, model, min_replicas=0)
    # Scale-to-zero is v1beta1 only: a v1 body carrying it is rejected as an unknown field.
    response = requests.post(
        f"{emulator.rest_url}/v1/{endpoint}:deployModel",
        timeout=10,
        json={
            "deployedModel": {
                "model": model,
                "dedicatedResources": {
                    "machineSpec": {"machineType": "n1-standard-2"},
                    "scaleToZeroSpec": {"idleScaledownPeriod": "600s"},
                },
            }
        },
    )
    assert response.status_code == 400
    assert "scaleToZeroSpec" in response.json()["error"]["message"]

    deployed = deploy(v1, endpoint, model)
    with pytest.raises(exceptions.BadRequest) as caught:
        v1.models.delete_model(name=model)
    assert error_status(caught.value) == "FAILED_PRECONDITION"
    with pytest.raises(exceptions.BadRequest, match="still has deployed models"):
        v1.endpoints.delete_endpoint(name=endpoint)
    with pytest.raises(exceptions.NotFound):
        v1.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id="999")
    mutated = v1.endpoints.mutate_deployed_model(
        endpoint=endpoint,
        deployed_model=v1.types.DeployedModel(
            id=deployed.id,
            dedicated_resources=dedicated(v1.types, min_replicas=1, max_replica_count=5),
        ),
        update_mask={"paths": ["dedicated_resources.max_replica_count"]},
    ).result(timeout=60)
    assert mutated.deployed_model.dedicated_resources.max_replica_count == 5
    live = v1.endpoints.get_endpoint(name=endpoint).deployed_models[0]
    assert live.dedicated_resources.max_replica_count == 5


def test_unknown_bundled_server_label_fails_the_deploy(v1, emulator):
    # Vertex accepts any label value at upload; the emulator reads it at deploy.
    model = upload(v1, echo_model(v1.types, labels={"vxdeploy-container": "tomcat"})).model
    endpoint = create_endpoint(v1).name
    with pytest.raises(exceptions.BadRequest) as caught:
        deploy(v1, endpoint, model)
    assert "allowed: flask, torchserve, tensorrt, triton, custom" in str(caught.value)
    assert emulator.emu.servers.describe() == []


def test_failed_deploy_reports_the_server_log_tail(v1, emulator):
    model = upload(v1, echo_model(v1.types, extra_env={"ECHO_EXIT": "1"})).model
    endpoint = create_endpoint(v1).name
    with pytest.raises(exceptions.GoogleAPICallError) as caught:
        deploy(v1, endpoint, model)
    assert "never became ready" in str(caught.value)
    assert "exiting on purpose" in str(caught.value)
    assert list(v1.endpoints.get_endpoint(name=endpoint).deployed_models) == []
    assert emulator.emu.servers.describe() == []


def test_model_errors_pass_through_and_raw_predict(v1, emulator):
    failing = upload(v1, echo_model(v1.types, extra_env={"ECHO_FAIL_STATUS": "503"})).model
    endpoint = create_endpoint(v1, "failing").name
    dm = deploy(v1, endpoint, failing)
    with pytest.raises(exceptions.ServiceUnavailable, match="configured to fail"):
        v1.predictions.predict(endpoint=endpoint, instances=[1])
    assert [
        r.response_code for r in emulator.emu.metrics.visible() if r.deployed_model_id == dm.id
    ] == [503]

    ok = upload(v1, echo_model(v1.types)).model
    raw_endpoint = create_endpoint(v1, "raw").name
    raw_dm = deploy(v1, raw_endpoint, ok)
    response = requests.post(
        f"{emulator.rest_url}/v1/{raw_endpoint}:rawPredict",
        data=b"hello",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert response.status_code == 200 and response.content == b"raw:hello"
    # The rawPredict reference: the answer names the endpoint and deployed model in headers.
    assert response.headers["X-Vertex-AI-Endpoint-Id"] == "raw"
    assert response.headers["X-Vertex-AI-Deployed-Model-Id"] == raw_dm.id
    from google.api import httpbody_pb2

    body = v1.predictions.raw_predict(
        endpoint=raw_endpoint,
        http_body=httpbody_pb2.HttpBody(content_type="text/plain", data=b"gapic"),
    )
    assert body.data == b"raw:gapic"
    with pytest.raises(exceptions.BadRequest, match="instances"):
        requests_predict = requests.post(
            f"{emulator.rest_url}/v1/{raw_endpoint}:predict", json={"inputs": [1]}, timeout=10
        )
        raise exceptions.from_http_response(requests_predict)


def test_scale_to_zero_starts_on_first_request_with_429(v1beta1, emulator):
    from google.protobuf import duration_pb2

    types = v1beta1.types
    model = upload(v1beta1, echo_model(types)).model
    endpoint = create_endpoint(v1beta1).name
    resources = types.DedicatedResources(
        machine_spec=types.MachineSpec(machine_type="n1-standard-2"),
        min_replica_count=0,
        max_replica_count=1,
        scale_to_zero_spec=types.DedicatedResources.ScaleToZeroSpec(
            idle_scaledown_period=duration_pb2.Duration(seconds=600)
        ),
    )
    dm = (
        v1beta1.endpoints.deploy_model(
            endpoint=endpoint,
            deployed_model=types.DeployedModel(model=model, dedicated_resources=resources),
            traffic_split={"0": 100},
        )
        .result(timeout=60)
        .deployed_model
    )
    assert dm.dedicated_resources.scale_to_zero_spec.idle_scaledown_period.seconds == 600
    assert emulator.emu.servers.describe()[0]["replicas"] == []

    with pytest.raises(exceptions.TooManyRequests) as caught:
        v1beta1.predictions.predict(endpoint=endpoint, instances=[1])
    assert error_status(caught.value) == "RESOURCE_EXHAUSTED"
    deadline = time.monotonic() + 60
    while True:
        try:
            response = v1beta1.predictions.predict(endpoint=endpoint, instances=[1])
            break
        except exceptions.TooManyRequests:
            assert time.monotonic() < deadline, "scale-up did not finish within 60s"
            time.sleep(0.2)
    assert response.deployed_model_id == dm.id

    # Idle past idle_scaledown_period (shortened here: Vertex's minimum is 300 s), it goes
    # back to zero and the next request waits for a scale-up again.
    deployment = emulator.emu.servers.get(f"{endpoint.rsplit('/', 1)[1]}/{dm.id}")
    deployment.idle_scaledown_s = 0.2
    deadline = time.monotonic() + 15
    while emulator.emu.servers.describe()[0]["replicas"]:
        assert time.monotonic() < deadline, "the idle replica was not scaled down"
        time.sleep(0.1)
    with pytest.raises(exceptions.TooManyRequests):
        v1beta1.predictions.predict(endpoint=endpoint, instances=[1], retry=None)
    with pytest.raises(exceptions.BadRequest, match="only model on its endpoint"):
        v1beta1.endpoints.deploy_model(
            endpoint=endpoint,
            deployed_model=types.DeployedModel(model=model, dedicated_resources=dedicated(types)),
            traffic_split={},
        )


def test_list_filter_on_endpoint_unaffected_by_parent(v1):
    create_endpoint(v1, "x1")
    other = "projects/other/locations/us-central1"
    v1.endpoints.create_endpoint(
        parent=other, endpoint=v1.types.Endpoint(display_name="elsewhere")
    ).result(timeout=30)
    assert [e.name for e in v1.endpoints.list_endpoints(parent=PARENT)] == [
        f"{PARENT}/endpoints/x1"
    ]


def test_psc_endpoint_fills_the_deployed_models_service_attachment(v1):
    """Vertex creates a service attachment per model deployed to a PSC endpoint."""
    types = v1.types
    endpoint = create_endpoint(v1, "psc", private_service_connect_config=(
        types.PrivateServiceConnectConfig(enable_private_service_connect=True,
                                          project_allowlist=["test-project"])))
    model = upload(v1, echo_model(types)).model
    dm = deploy(v1, endpoint.name, model)
    (read,) = v1.endpoints.get_endpoint(name=endpoint.name).deployed_models
    attachment = read.private_endpoints.service_attachment
    assert attachment == dm.private_endpoints.service_attachment
    assert re.fullmatch(r"projects/[a-z0-9-]+-tp/regions/us-central1/serviceAttachments/"
                        r"[a-z0-9-]+", attachment), attachment


def test_scale_up_cut_short_by_shutdown_leaves_no_server(tmp_path):
    """A request at zero starts a server in the background; if the emulator stops while it
    starts, that server must be stopped too, not left running with nobody to stop it."""
    from google.protobuf import duration_pb2

    from tests.emulator.conftest import make_clients
    from vxdeploy.emulator import ownership
    from vxdeploy.emulator.server import EmulatorServer

    state = tmp_path / "state"
    server = EmulatorServer(state, seed=5, ready_timeout_s=60).start()
    try:
        v1beta1 = make_clients(server.rest_url, "v1beta1")
        types = v1beta1.types
        model = upload(v1beta1, echo_model(types, extra_env={"ECHO_START_DELAY_S": "2"})).model
        endpoint = create_endpoint(v1beta1).name
        resources = types.DedicatedResources(
            machine_spec=types.MachineSpec(machine_type="n1-standard-2"),
            min_replica_count=0, max_replica_count=1,
            scale_to_zero_spec=types.DedicatedResources.ScaleToZeroSpec(
                idle_scaledown_period=duration_pb2.Duration(seconds=600)))
        v1beta1.endpoints.deploy_model(
            endpoint=endpoint,
            deployed_model=types.DeployedModel(model=model, dedicated_resources=resources),
            traffic_split={"0": 100}).result(timeout=60)
        with pytest.raises(exceptions.TooManyRequests):
            v1beta1.predictions.predict(endpoint=endpoint, instances=[1])
        deadline = time.monotonic() + 10
        while not ownership.owned_processes(state):  # the scale-up is under way
            assert time.monotonic() < deadline, "no server was started by the request"
            time.sleep(0.05)
    finally:
        server.stop()
    deadline = time.monotonic() + 30
    while ownership.owned_processes(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ownership.owned_processes(state) == []
