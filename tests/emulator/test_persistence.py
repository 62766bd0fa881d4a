"""State survives restarts: resources and ids persist, live servers are adopted, dead ones
restarted."""

from __future__ import annotations

import time

from tests.emulator.conftest import (
    PARENT,
    create_endpoint,
    deploy,
    echo_model,
    make_clients,
    upload,
)


def _start(state_dir):
    from vxdeploy.emulator.server import EmulatorServer

    return EmulatorServer(state_dir, seed=1, ready_timeout_s=60).start()


def _predict_eventually(clients, endpoint: str, timeout_s: float = 60):
    from google.api_core import exceptions

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return clients.predictions.predict(endpoint=endpoint, instances=[1], retry=None)
        except exceptions.ServiceUnavailable:
            assert time.monotonic() < deadline, "the restored server never answered"
            time.sleep(0.2)


def test_restart_adopts_live_servers_and_restarts_dead_ones(tmp_path):
    state = tmp_path / "state"
    first = _start(state)
    try:
        v1 = make_clients(first.rest_url)
        model = upload(v1, echo_model(v1.types), model_id="kept").model
        endpoint = create_endpoint(v1, "kept").name
        dm = deploy(v1, endpoint, model)
        pid = first.emu.servers.describe()[0]["replicas"][0]["pid"]
    finally:
        first.stop(stop_servers=False)  # as if the emulator crashed: servers keep running

    second = _start(state)
    try:
        v1 = make_clients(second.rest_url)
        assert v1.models.get_model(name=model).display_name == "echo"
        live = v1.endpoints.get_endpoint(name=endpoint)
        assert [d.id for d in live.deployed_models] == [dm.id]
        assert dict(live.traffic_split) == {dm.id: 100}
        assert second.emu.servers.describe()[0]["replicas"][0]["pid"] == pid  # adopted
        assert _predict_eventually(v1, endpoint).deployed_model_id == dm.id
        newer = create_endpoint(v1)
        assert int(newer.name.rsplit("/", 1)[1]) > 0 and newer.name != endpoint
    finally:
        second.stop(stop_servers=True)  # `local down`: servers stop, state stays

    third = _start(state)
    try:
        v1 = make_clients(third.rest_url)
        response = _predict_eventually(v1, endpoint)
        assert response.deployed_model_id == dm.id
        assert third.emu.servers.describe()[0]["replicas"][0]["pid"] != pid  # restarted
        names = {e.name for e in v1.endpoints.list_endpoints(parent=PARENT)}
        assert endpoint in names and newer.name in names
    finally:
        third.stop()


def test_interrupted_operations_fail_after_restart(tmp_path):
    from vxdeploy.emulator.store import StateStore

    state = tmp_path / "state"
    store = StateStore(state)
    name = f"{PARENT}/endpoints/1/operations/5"
    store.operations[name] = {"name": name, "metadata": {}, "_version": "v1"}
    store.save()
    server = _start(state)
    try:
        body = server.emu.ops.get(name)
        assert body["done"] is True and body["error"]["code"] == 10
    finally:
        server.stop()


def test_registry_and_endpoint_mutations_survive_a_restart(tmp_path):
    """Store mutations (create, update, upload, alias move) are on disk when their call
    returns: a new server on the same state folder sees them."""
    from google.cloud.aiplatform_v1 import types as t
    from google.protobuf import field_mask_pb2

    state = tmp_path / "state"
    server = _start(state)
    try:
        v1 = make_clients(server.rest_url)
        endpoint = create_endpoint(v1, "kept").name
        v1.endpoints.update_endpoint(endpoint=t.Endpoint(name=endpoint, display_name="renamed",
                                                         labels={"team": "a"}),
                                     update_mask=field_mask_pb2.FieldMask(
                                         paths=["display_name", "labels"]))
        uploaded = upload(v1, echo_model(v1.types, display_name="kept-model"))
        model, version = uploaded.model, uploaded.model_version_id
        v1.models.merge_version_aliases(name=f"{model}@{version}", version_aliases=["blue"])
    finally:
        server.stop()
    again = _start(state)
    try:
        v1 = make_clients(again.rest_url)
        kept = v1.endpoints.get_endpoint(name=endpoint)
        assert (kept.display_name, dict(kept.labels)) == ("renamed", {"team": "a"})
        assert "blue" in v1.models.get_model(name=f"{model}@{version}").version_aliases
    finally:
        again.stop()
