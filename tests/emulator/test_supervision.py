"""Model servers are supervised: replicas round-robin, a crashed server is restarted, the
docker runtime is chosen by label and fails clearly without an engine."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
from google.api_core import exceptions

from tests.emulator.conftest import (
    create_endpoint,
    dedicated,
    deploy,
    echo_model,
    make_clients,
    upload,
)


@pytest.fixture
def two_replica_emulator(tmp_path):
    from vxdeploy.emulator.server import EmulatorServer

    server = EmulatorServer(tmp_path / "state", seed=3, max_replicas=2, monitoring=False,
                            ready_timeout_s=60).start()
    yield server
    server.stop()


def test_min_replicas_start_capped_and_round_robin(two_replica_emulator):
    v1 = make_clients(two_replica_emulator.rest_url)
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    deploy(v1, endpoint, model, min_replicas=3)  # capped at the emulator's 2
    (server,) = two_replica_emulator.emu.servers.describe()
    assert len(server["replicas"]) == 2
    urls = {r["base_url"] for r in server["replicas"]}
    assert len(urls) == 2 and all(r["alive"] for r in server["replicas"])
    picked = [two_replica_emulator.emu.servers.pick(server["key"]).base_url for _ in range(4)]
    assert set(picked) == urls and picked[0] != picked[1]
    assert v1.predictions.predict(endpoint=endpoint, instances=[1]).predictions


def test_crashed_server_is_restarted(v1, emulator):
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    dm = deploy(v1, endpoint, model)
    pid = emulator.emu.servers.describe()[0]["replicas"][0]["pid"]
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        replicas = emulator.emu.servers.describe()[0]["replicas"]
        if replicas and replicas[0]["pid"] != pid and replicas[0]["alive"]:
            break
        assert time.monotonic() < deadline, "the crashed server was not restarted"
        time.sleep(0.2)
    assert v1.predictions.predict(endpoint=endpoint, instances=[1]).deployed_model_id == dm.id


def test_unavailable_while_no_replica_runs(v1, emulator):
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    dm = deploy(v1, endpoint, model)
    emulator.emu.servers.scale(f"{endpoint.rsplit('/', 1)[1]}/{dm.id}", 0)
    with pytest.raises(exceptions.ServiceUnavailable, match="No replica"):
        v1.predictions.predict(endpoint=endpoint, instances=[1], retry=None)


def test_docker_runtime_without_an_engine_fails_the_deploy_clearly(v1, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # nothing listens there
    model = upload(v1, echo_model(v1.types, labels={"vxdeploy-runtime": "docker"})).model
    endpoint = create_endpoint(v1).name
    with pytest.raises(exceptions.GoogleAPICallError, match="no Docker engine is reachable"):
        deploy(v1, endpoint, model)
    assert list(v1.endpoints.get_endpoint(name=endpoint).deployed_models) == []


def test_split_is_reproducible_with_a_seed(v1, admin):
    model = upload(v1, echo_model(v1.types)).model
    endpoint = create_endpoint(v1).name
    first = deploy(v1, endpoint, model)
    deploy(v1, endpoint, model, split={first.id: 50, "0": 50})

    def sequence() -> list[str]:
        admin.seed(11)
        return [v1.predictions.predict(endpoint=endpoint, instances=[0]).deployed_model_id
                for _ in range(20)]

    runs = sequence(), sequence()
    assert runs[0] == runs[1]
    assert len(Counter(runs[0])) == 2


def test_failed_load_fails_the_deploy_at_once_with_the_log(tmp_path):
    """A server that stays up but reports a failed load ends the deploy as soon as it says
    so (not after the ready timeout, 10 minutes here), with the server's log tail."""
    from vxdeploy.emulator.server import EmulatorServer

    server = EmulatorServer(tmp_path / "state", monitoring=False, ready_timeout_s=600).start()
    try:
        v1 = make_clients(server.rest_url)
        broken = echo_model(v1.types, extra_env={"ECHO_HEALTH_FAILED": "RuntimeError: bad "
                                                 "weights"})
        model = upload(v1, broken).model
        endpoint = create_endpoint(v1).name
        op = v1.endpoints.deploy_model(
            endpoint=endpoint,
            deployed_model=v1.types.DeployedModel(model=model,
                                                  dedicated_resources=dedicated(v1.types)),
            traffic_split={"0": 100})
        with pytest.raises(exceptions.GoogleAPICallError) as caught:
            op.result(timeout=60)
        message = str(caught.value)
        assert "failed to load: RuntimeError: bad weights" in message
        assert "echo server: model load failed" in message  # the log tail
        assert server.emu.servers.describe() == []  # the failed server was stopped
    finally:
        server.stop()
