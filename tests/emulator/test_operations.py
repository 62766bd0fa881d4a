"""Long-running operations: done at once, pending and polled, held and released."""

from __future__ import annotations

import time

import pytest
import requests

from tests.emulator.conftest import PARENT, create_endpoint


def test_pending_operation_is_polled_at_ui_path(v1, admin):
    admin.delay_operations(1.0)
    seq = admin.last_seq()
    op = v1.endpoints.create_endpoint(parent=PARENT, endpoint=v1.types.Endpoint(
        display_name="slow"))
    assert not op.done()
    started = time.monotonic()
    endpoint = op.result(timeout=30)
    assert endpoint.display_name == "slow"
    assert time.monotonic() - started >= 0.3
    polls = admin.requests(since=seq, rpc="GetOperation")
    assert polls and all(p["path"].startswith("/ui/") for p in polls)
    assert polls[-1]["resource"] == op.operation.name
    assert op.operation.name.startswith(endpoint.name + "/operations/")
    assert op.metadata.generic_metadata.create_time


def test_held_operations_stay_pending_until_released(v1, admin, emulator):
    admin.hold_operations()
    op = v1.endpoints.create_endpoint(parent=PARENT, endpoint=v1.types.Endpoint(
        display_name="held"))
    name = op.operation.name
    for path in (f"/ui/{name}", f"/v1/{name}", f"/v1beta1/{name}"):
        body = requests.get(emulator.rest_url + path, params={"alt": "json"}, timeout=5).json()
        assert body["name"] == name and "done" not in body and "response" not in body
        assert body["metadata"]["@type"].endswith("v1.CreateEndpointOperationMetadata")
    assert not op.done()
    assert admin.release_operations() == 1
    assert op.result(timeout=30).display_name == "held"
    # gcloud polls under /v1/: the finished operation carries the typed response.
    body = requests.get(f"{emulator.rest_url}/v1/{name}", params={"alt": "json"},
                        timeout=5).json()
    assert body["done"] is True
    assert body["response"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.Endpoint"


def test_operation_response_types_follow_the_api_version(v1beta1, emulator):
    op = v1beta1.endpoints.create_endpoint(parent=PARENT, endpoint=v1beta1.types.Endpoint(
        display_name="beta"))
    assert op.done()
    body = requests.get(f"{emulator.rest_url}/ui/{op.operation.name}", timeout=5).json()
    assert body["response"]["@type"].endswith("aiplatform.v1beta1.Endpoint")


def test_pending_mode_from_the_environment(tmp_path, monkeypatch):
    from tests.emulator.conftest import make_clients
    from vxdeploy.emulator.server import EmulatorServer

    monkeypatch.setenv("VXDEPLOY_EMULATOR_OPERATION_PENDING_S", "0.5")
    with EmulatorServer(tmp_path / "state", monitoring=False) as server:
        v1 = make_clients(server.rest_url)
        op = v1.endpoints.create_endpoint(parent=PARENT, endpoint=v1.types.Endpoint(
            display_name="pending"))
        assert not op.done()
        assert op.result(timeout=30).display_name == "pending"


def test_unknown_operation_is_not_found(emulator):
    response = requests.get(f"{emulator.rest_url}/v1/{PARENT}/operations/123", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_list_wait_and_cancel_operations_through_the_gapic_mixins(v1, admin):
    from google.api_core import exceptions
    from google.protobuf import duration_pb2

    endpoint = create_endpoint(v1, "opsep")
    listed = v1.endpoints.list_operations(request={"name": endpoint.name})
    assert [op.name for op in listed.operations] and all(
        op.name.startswith(endpoint.name + "/operations/") for op in listed.operations)
    in_location = v1.endpoints.list_operations(request={"name": PARENT})
    assert {op.name for op in listed.operations} <= {op.name for op in in_location.operations}

    admin.hold_operations()
    pending = v1.endpoints.create_endpoint(parent=PARENT, endpoint=v1.types.Endpoint(
        display_name="held"))
    name = pending.operation.name
    op_id = name.rsplit("/", 1)[-1]
    scoped = f"{PARENT}/operations/{op_id}"
    waited = v1.endpoints.wait_operation(request={
        "name": scoped, "timeout": duration_pb2.Duration(nanos=200_000_000)})
    assert waited.name == name and not waited.done
    v1.endpoints.cancel_operation(request={"name": scoped})  # best effort: accepted
    admin.release_operations()
    assert v1.endpoints.wait_operation(request={"name": name}).done
    with pytest.raises(exceptions.NotFound):
        v1.endpoints.cancel_operation(request={"name": f"{PARENT}/operations/123"})
