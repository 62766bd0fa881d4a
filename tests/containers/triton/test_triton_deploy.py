"""`container = "triton"` end to end: `vxdeploy deploy` to the local emulator, Vertex's
GAPIC client predicting through the real tritonserver, and what the router recorded read
back by the rollout gates' own Monitoring reader.

One emulator daemon and one deployment for the module (starting Triton is the slow part).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROFILES
from tests.containers.triton.test_triton_server import ARTIFACTS, PYTRITON

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PYTRITON, reason="needs nvidia-pytriton (vxdeploy's `triton` "
                       "extra) for the tritonserver binary"),
]

ENDPOINT = "triton-e2e"
OVERRIDES = [f"endpoint.name={ENDPOINT}", "model.container=triton",
             f"model.artifact_uri={ARTIFACTS}", "alerts.enabled=false",
             # the local tritonserver's location (a user with the `triton` extra needs none)
             f"model.env.VXSERVE_TRITON_PYTRITON_DIR={PYTRITON}",
             # long enough that concurrent requests meet in one batch on a busy machine
             "model.triton.max_queue_delay_us=20000", "model.triton.preferred_batch_sizes=[4]"]


@dataclass
class Deployed:
    home: Path
    env: dict[str, str]
    profile: Any
    v1: Any  # tests.emulator.conftest.Clients
    endpoint: str
    deployed_model_id: str
    base_url: str  # the vxtriton front of the one replica


def _vx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    sets = [part for item in OVERRIDES for part in ("--set", item)]
    return subprocess.run([sys.executable, "-m", "vxdeploy", *args, "-p", "local",
                           "--profiles-dir", str(PROFILES), *sets],
                          capture_output=True, text=True, env=env, timeout=400)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from tests.emulator.conftest import make_clients
    from vxdeploy.emulator import control
    from vxdeploy.emulator.client import EmulatorAdmin
    from vxdeploy.emulator.monitoring import DELAY_ENV
    from vxdeploy.profile import load_profile

    home = tmp_path_factory.mktemp("triton-e2e") / "home"
    saved = os.environ.get("VXDEPLOY_HOME")
    os.environ["VXDEPLOY_HOME"] = str(home)
    os.environ[DELAY_ENV] = "0"  # read by the daemon at start: metrics visible at once
    try:
        info = control.ensure_running(home / "emulator")
    finally:
        os.environ.pop(DELAY_ENV, None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VXDEPLOY_")}
    env.update(VXDEPLOY_HOME=str(home), COLUMNS="200", NO_PROXY="127.0.0.1,localhost")
    try:
        result = _vx(env, "deploy", "--yes")
        assert result.returncode == 0, result.stderr[-3000:]
        profile = load_profile("local", PROFILES, cli_overrides=OVERRIDES).profile
        v1 = make_clients(info.rest_url)
        endpoint = f"projects/local-project/locations/us-central1/endpoints/{ENDPOINT}"
        (model,) = v1.endpoints.get_endpoint(name=endpoint).deployed_models
        (server,) = [s for s in EmulatorAdmin(info.rest_url).servers()
                     if s.get("deployed_model_id") == model.id]
        (replica,) = server["replicas"]
        yield Deployed(home, env, profile, v1, endpoint, model.id, replica["base_url"])
    finally:
        control.stop(home / "emulator")
        if saved is None:
            os.environ.pop("VXDEPLOY_HOME", None)
        else:
            os.environ["VXDEPLOY_HOME"] = saved


def _triton_metrics(base_url: str) -> dict[str, float]:
    with urllib.request.urlopen(base_url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    return {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("nv_inference_") and 'model="model"' in line}


def test_gapic_predicts_through_tritonserver(deployed: Deployed) -> None:
    instances = json.loads((ARTIFACTS.parents[1] / "instances.json").read_text())["instances"]
    response = deployed.v1.predictions.predict(endpoint=deployed.endpoint,
                                               instances=instances[:3])
    assert response.deployed_model_id == deployed.deployed_model_id
    labels = [dict(p)["label"] for p in response.predictions]
    assert len(labels) == 3 and set(labels) <= {"negative", "neutral", "positive"}
    # Triton served them: its own counters moved (the front answers /metrics from Triton)
    assert _triton_metrics(deployed.base_url)["nv_inference_count"] >= 3  # one row each


def test_bad_instance_is_400_with_tritons_message(deployed: Deployed) -> None:
    from google.api_core import exceptions

    with pytest.raises(exceptions.BadRequest) as caught:
        deployed.v1.predictions.predict(endpoint=deployed.endpoint, instances=[[1, 2, 99999999]])
    # the handler's error inside Triton's Python backend, as Triton answered it
    assert "values must lie in [0, 19999]" in str(caught.value)


def test_concurrent_predictions_are_batched_by_triton(deployed: Deployed) -> None:
    before = _triton_metrics(deployed.base_url)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: deployed.v1.predictions.predict(
            endpoint=deployed.endpoint, instances=[[7, 8, 9]]), range(16)))
    after = _triton_metrics(deployed.base_url)
    inferences = after["nv_inference_count"] - before["nv_inference_count"]
    executions = after["nv_inference_exec_count"] - before["nv_inference_exec_count"]
    assert inferences == 16
    assert executions < inferences  # Triton's dynamic batcher put requests together


def test_rollout_gates_read_the_triton_deployment(deployed: Deployed) -> None:
    """The gates' Monitoring reader (and so alerts, which use the same metrics) sees the
    Triton deployment's requests and errors as it sees any other container's."""
    from google.api_core import exceptions

    from vxdeploy.rollout.gates import Verdict, judge
    from vxdeploy.rollout.session import open_rollout

    time.sleep(1.0)  # the window starts after the other tests' requests (whole seconds)
    start = time.time()
    for _ in range(5):
        deployed.v1.predictions.predict(endpoint=deployed.endpoint, instances=[[1, 2, 3]])
    with pytest.raises(exceptions.BadRequest):
        deployed.v1.predictions.predict(endpoint=deployed.endpoint, instances=[[-1]])
    os.environ["VXDEPLOY_HOME"] = str(deployed.home)
    reading = open_rollout(deployed.profile).metrics.read(deployed.deployed_model_id, start,
                                                          time.time() + 1)
    assert reading is not None
    assert (reading.requests, reading.errors) == (6, 1)
    assert reading.p99_ms is not None and reading.p99_ms > 0
    gates = deployed.profile.rollout.gates.model_copy(update={"min_requests": 1,
                                                               "max_error_rate": 0.05})
    verdict = judge(gates, reading, window_complete=True, deadline_passed=True)
    assert verdict.verdict is Verdict.FAIL and verdict.code == "error-rate"
