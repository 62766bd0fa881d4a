"""`vxdeploy predict` as a subprocess against an in-process emulator serving the echo model:
it retries a model that is not serving yet (UNAVAILABLE) and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROFILES
from tests.emulator.conftest import dedicated, echo_model, make_clients

PARENT = "projects/local-project/locations/us-central1"
ENDPOINT = "predict-cli"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """An emulator with the echo model deployed where `-p local --set endpoint.name=...`
    points; yields (emulator, admin client, deployed model id)."""
    from vxdeploy.emulator.client import EmulatorAdmin
    from vxdeploy.emulator.server import EmulatorServer

    state = tmp_path_factory.mktemp("predict-cli")
    server = EmulatorServer(state, seed=1, monitoring=False, ready_timeout_s=60).start()
    try:
        v1 = make_clients(server.rest_url)
        model = v1.models.upload_model(parent=PARENT, model=echo_model(v1.types)).result(60)
        endpoint = v1.endpoints.create_endpoint(
            parent=PARENT, endpoint=v1.types.Endpoint(display_name="e"),
            endpoint_id=ENDPOINT).result(60)
        dm = v1.endpoints.deploy_model(
            endpoint=endpoint.name,
            deployed_model=v1.types.DeployedModel(model=model.model,
                                                  dedicated_resources=dedicated(v1.types)),
            traffic_split={"0": 100}).result(60).deployed_model
        yield server, EmulatorAdmin(server.rest_url), dm.id
    finally:
        server.stop()


def _predict(state: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps({"instances": [[1, 2]]}))
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state))
    return subprocess.run(
        [sys.executable, "-m", "vxdeploy", "predict", "-p", "local", f"--set=endpoint.name="
         f"{ENDPOINT}", "-i", str(instances), "-o", "json", "--profiles-dir", str(PROFILES)],
        env=env, capture_output=True, text=True, timeout=120)


def test_predict_answers_through_the_rest_method(served, tmp_path: Path):
    server, _admin, dm_id = served
    result = _predict(server.state_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["deployed_model_id"] == dm_id
    assert answer["model"].startswith(f"{PARENT}/models/") and answer["model_version_id"] == "1"
    assert answer["predictions"][0]["instance"] == [1, 2]


def test_predict_retries_a_model_that_is_not_serving_yet(served, tmp_path: Path):
    server, admin, dm_id = served
    admin.fail_rpc("Predict", count=2, status="UNAVAILABLE", message="No replica yet.")
    result = _predict(server.state_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deployed_model_id"] == dm_id
    assert "not serving yet" in result.stderr  # it said what it waited for
    assert admin._call("GET", "faults")["rpc"] == []


def test_predict_does_not_retry_a_refusal(served, tmp_path: Path):
    server, admin, _dm_id = served
    admin.fail_rpc("Predict", count=2, status="INVALID_ARGUMENT", message="Bad instance.")
    try:
        result = _predict(server.state_dir, tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Bad instance." in json.loads(result.stdout)["message"]
        assert [f["remaining"] for f in admin._call("GET", "faults")["rpc"]] == [1]
    finally:
        admin.clear_faults()
