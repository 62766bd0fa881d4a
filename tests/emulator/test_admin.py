"""The admin surface: request log, RPC faults, deployed-model faults, reset."""

from __future__ import annotations

import time

import pytest
import requests
from google.api_core import exceptions

from tests.emulator.conftest import PARENT, create_endpoint, deploy, echo_model, upload


def test_request_log_counts_mutating_calls(v1, admin):
    seq = admin.last_seq()
    endpoint = create_endpoint(v1, "logged")
    v1.endpoints.get_endpoint(name=endpoint.name)
    entries = admin.requests(since=seq)
    assert [e["rpc"] for e in entries] == ["CreateEndpoint", "GetEndpoint"]
    assert entries[0]["resource"] == PARENT and entries[0]["status"] == 200
    assert entries[1]["resource"] == endpoint.name
    assert [e["rpc"] for e in admin.requests(since=seq, mutating=True)] == ["CreateEndpoint"]
    assert admin.requests(since=entries[-1]["seq"]) == []


def test_fail_next_calls_of_an_rpc(v1, admin):
    admin.fail_rpc("CreateEndpoint", count=2, status="UNAVAILABLE")
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable, match="Injected fault"):
            v1.endpoints.create_endpoint(parent=PARENT, endpoint=v1.types.Endpoint(
                display_name="x"), retry=None)
    assert create_endpoint(v1).display_name == "ep"
    admin.fail_rpc("*", status=409)
    with pytest.raises(exceptions.Conflict) as caught:
        v1.endpoints.list_endpoints(parent=PARENT, retry=None)
    assert caught.value.response.json()["error"]["status"] == "ABORTED"
    with pytest.raises(Exception, match="unknown status"):
        admin.fail_rpc("GetEndpoint", status="NOPE")


def test_deployed_model_faults_and_reset(v1, admin, emulator):
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    dm = deploy(v1, endpoint, model)

    admin.fault_deployed_model(dm.id, latency_ms=200)
    started = time.perf_counter()
    v1.predictions.predict(endpoint=endpoint, instances=[1])
    assert time.perf_counter() - started >= 0.2

    admin.fault_deployed_model(dm.id, http_status=500, fraction=1.0)
    with pytest.raises(exceptions.InternalServerError, match="Injected failure"):
        v1.predictions.predict(endpoint=endpoint, instances=[1], retry=None)
    admin.fault_deployed_model(dm.id, http_status=503, fraction=0.5)
    outcomes = []
    for _ in range(40):
        try:
            v1.predictions.predict(endpoint=endpoint, instances=[1], retry=None)
            outcomes.append(200)
        except exceptions.ServiceUnavailable:
            outcomes.append(503)
    assert 8 <= outcomes.count(503) <= 32, outcomes
    codes = [r.response_code for r in emulator.emu.metrics.visible()]
    assert 500 in codes and 503 in codes and 200 in codes

    admin.clear_faults()
    assert v1.predictions.predict(endpoint=endpoint, instances=[1]).deployed_model_id == dm.id
    assert admin.servers()[0]["deployed_model_id"] == dm.id

    admin.reset()
    assert list(v1.endpoints.list_endpoints(parent=PARENT)) == []
    assert admin.servers() == []
    assert emulator.emu.metrics.visible() == []


def test_admin_errors_are_json(emulator):
    response = requests.get(f"{emulator.rest_url}/_emulator/nope", timeout=5)
    assert response.status_code == 404
    assert "/_emulator/requests" in response.json()["error"]["message"]
    response = requests.post(f"{emulator.rest_url}/_emulator/faults/deployed-models",
                             json={"deployed_model_id": "1", "fraction": 2}, timeout=5)
    assert response.status_code == 400
    assert "fraction" in response.json()["error"]["message"]


# A valid body for each route that reads one; the others take none.
ADMIN_BODIES = {"/faults/rpc": {"rpc": "Explain", "count": 1},
                "/faults/deployed-models": {"deployed_model_id": "1", "fraction": 0.0},
                "/faults/operations": {"pending_s": 0.0}, "/seed": {"seed": 1}}


def test_every_listed_admin_route_is_served(emulator):
    """One table: each route the NOT_FOUND answer lists (with what it does) is served, and
    a method the table does not list for a path is not."""
    from vxdeploy.emulator.admin import ROUTES

    message = requests.get(f"{emulator.rest_url}/_emulator/nope",
                           timeout=5).json()["error"]["message"]
    # /reset last: it forgets the faults the other routes set.
    for route in sorted(ROUTES, key=lambda r: r.path == "/reset"):
        assert f"{route.method} /_emulator{route.path} ({route.description})" in message
        response = requests.request(route.method, f"{emulator.rest_url}/_emulator{route.path}",
                                    json=ADMIN_BODIES.get(route.path), timeout=10)
        assert response.status_code == 200, (route.method, route.path, response.text)
    unlisted = requests.put(f"{emulator.rest_url}/_emulator/health", timeout=5)
    assert unlisted.status_code == 404
    assert "No admin route PUT /_emulator/health" in unlisted.json()["error"]["message"]
