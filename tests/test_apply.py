"""Deploy end to end against the local emulator, with the real bundled Flask server.

The same code path that talks to Vertex: GAPIC REST clients and Monitoring gRPC clients
pointed at the in-process emulator. Each test uses its own endpoint name.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROFILES, REPO, SENTIMENT_ARTIFACTS
from vxdeploy.apply import apply_plan
from vxdeploy.cli import main
from vxdeploy.emulator.client import EmulatorAdmin
from vxdeploy.errors import ConflictError
from vxdeploy.output import Output
from vxdeploy.plan import Action
from vxdeploy.profile import load_profile
from vxdeploy.workflow import prepare

pytestmark = pytest.mark.slow
V2 = str(SENTIMENT_ARTIFACTS / "torchscript-v2")
INSTANCES = REPO / "examples" / "sentiment" / "instances.json"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """Run `vxdeploy ARGS -o json` in-process; returns (exit code, JSON document, stderr)."""
    capsys.readouterr()
    code = 0
    try:
        main([*args, "--profiles-dir", str(PROFILES), "-o", "json"])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def deploy(capsys, name: str, *sets: str) -> tuple[int, Any, str]:
    overrides = [f"--set=endpoint.name={name}", *(f"--set={s}" for s in sets)]
    return run_cli(capsys, "deploy", "-p", "local", "--yes", *overrides)


def mutating_rest_calls(admin: EmulatorAdmin, since: int, endpoint: str) -> list[dict]:
    return [r for r in admin.requests(since=since, mutating=True) if endpoint in r["resource"]]


def test_deploy_predict_and_rerun_is_a_no_op(local_vertex, capsys) -> None:
    admin = EmulatorAdmin(local_vertex.rest_url)
    code, result, err = deploy(capsys, "e2e-first")
    assert code == 0, err
    assert [c["action"] for c in result["changes"]] == [
        "create-endpoint", "upload-model", "deploy-model", "set-aliases",
        "create-alert-policy", "create-alert-policy"]
    code, answer, err = run_cli(capsys, "predict", "-p", "local", "--set=endpoint.name=e2e-first",
                                "--instances", str(INSTANCES))
    assert code == 0, err
    instances = json.loads(INSTANCES.read_text())["instances"]
    assert len(answer["predictions"]) == len(instances)
    assert {"label", "confidence", "probabilities"} <= set(answer["predictions"][0])
    deployed_id = result["changes"][2]["after"]["deployed_model_id"]
    assert answer["deployed_model_id"] == deployed_id

    seq = admin.last_seq()
    code, again, err = deploy(capsys, "e2e-first")
    assert code == 0, err
    assert again["changes"] == [] and again["mutating_calls"] == 0
    assert mutating_rest_calls(admin, seq, "e2e-first") == []

    code, status, err = run_cli(capsys, "status", "-p", "local", "--set=endpoint.name=e2e-first")
    assert code == 0, err
    (dm,) = status["deployed_models"]
    assert dm["traffic_percent"] == 100 and "stable" in dm["aliases"]
    assert {p["kind"] for p in status["alert_policies"]} == {"latency", "errors"}


def test_replicas_and_alert_thresholds_change_in_place(local_vertex, capsys) -> None:
    assert deploy(capsys, "e2e-inplace")[0] == 0
    code, result, err = deploy(capsys, "e2e-inplace", "machine.max_replicas=3",
                               "alerts.p99_latency_ms=250")
    assert code == 0, err
    assert [c["action"] for c in result["changes"]] == ["mutate-deployed-model",
                                                        "update-alert-policy"]
    code, status, _ = run_cli(capsys, "status", "-p", "local", "--set=endpoint.name=e2e-inplace")
    assert status["deployed_models"][0]["max_replicas"] == 3
    latency = next(p for p in status["alert_policies"] if p["kind"] == "latency")
    assert latency["threshold"] == 250
    assert len(status["alert_policies"]) == 2


def test_new_version_all_at_once_retires_the_old(local_vertex, capsys) -> None:
    strategy = "rollout.strategy='all-at-once'"
    code, _, err = deploy(capsys, "e2e-aao", strategy)
    assert code == 0, err
    code, second, err = deploy(capsys, "e2e-aao", strategy, f"model.artifact_uri='{V2}'")
    assert code == 0, err
    assert [c["action"] for c in second["changes"]] == [
        "upload-model", "deploy-model", "set-traffic", "set-aliases", "undeploy-model"]
    code, status, _ = run_cli(capsys, "status", "-p", "local", "--set=endpoint.name=e2e-aao")
    (dm,) = status["deployed_models"]
    assert dm["version_id"] == "2" and dm["traffic_percent"] == 100
    assert "stable" in dm["aliases"]


def test_canary_leaves_the_rest_to_rollout_and_detects_concurrent_change(local_vertex,
                                                                         capsys) -> None:
    canary = ["rollout.strategy='canary'", "rollout.steps=[20, 100]"]
    assert deploy(capsys, "e2e-canary", *canary)[0] == 0
    loaded = load_profile("local", PROFILES, cli_overrides=[
        "endpoint.name=e2e-canary", *canary, f"model.artifact_uri='{V2}'"])
    prepared = prepare(loaded, Output())
    actions = [c.action for c in prepared.plan.changes]
    assert actions == [Action.UPLOAD_MODEL, Action.DEPLOY_MODEL, Action.SET_ALIASES,
                       Action.SET_TRAFFIC]
    conn = prepared.conn

    def meddle(change, state: str) -> None:
        """Someone moves traffic by hand between our deploy and our traffic write."""
        if change.action is Action.DEPLOY_MODEL and state == "done":
            endpoint = conn.endpoints.get_endpoint(name=prepared.plan.endpoint)
            ids = [d.id for d in endpoint.deployed_models]
            conn.endpoints.update_endpoint(
                endpoint={"name": endpoint.name, "traffic_split": {ids[0]: 50, ids[1]: 50},
                          "etag": endpoint.etag}, update_mask={"paths": ["traffic_split"]})

    with pytest.raises(ConflictError, match="changed since it was read"):
        apply_plan(conn, prepared.plan, meddle)
    endpoint = conn.endpoints.get_endpoint(name=prepared.plan.endpoint)
    assert sorted(endpoint.traffic_split.values()) == [50, 50]  # not overwritten

    # put it back, then a clean deploy of v2 starts the canary at 20%
    stable = next(d.id for d in endpoint.deployed_models if d.id != prepared.desired
                  .deployed_model_id)
    conn.endpoints.update_endpoint(endpoint={"name": endpoint.name, "traffic_split": {stable: 100},
                                             "etag": endpoint.etag},
                                   update_mask={"paths": ["traffic_split"]})
    code, result, err = deploy(capsys, "e2e-canary", *canary, f"model.artifact_uri='{V2}'")
    assert code == 0, err
    assert [c["action"] for c in result["changes"]] == ["set-traffic"]
    code, status, _ = run_cli(capsys, "status", "-p", "local", "--set=endpoint.name=e2e-canary")
    shares = {d["version_id"]: d["traffic_percent"] for d in status["deployed_models"]}
    assert shares == {"1": 80, "2": 20}
    # mid-rollout, deploy changes nothing
    code, again, _ = deploy(capsys, "e2e-canary", *canary, f"model.artifact_uri='{V2}'")
    assert again["changes"] == []


def test_a_failed_call_then_a_rerun_converges_without_duplicates(local_vertex, capsys) -> None:
    admin = EmulatorAdmin(local_vertex.rest_url)
    admin.fail_rpc("DeployModel", count=1, status="FAILED_PRECONDITION",
                   message="injected failure")
    code, failed, _ = deploy(capsys, "e2e-fault")
    assert code == 2 and "injected failure" in failed["message"]
    code, result, err = deploy(capsys, "e2e-fault")
    assert code == 0, err
    actions = [c["action"] for c in result["changes"]]
    assert "create-endpoint" not in actions and "upload-model" not in actions
    assert actions[0] == "deploy-model"
    versions = [r for r in admin.requests(rpc="UploadModel") if "e2e-fault" in json.dumps(r)]
    assert len(versions) <= 1
    code, plan, _ = run_cli(capsys, "plan", "-p", "local", "--set=endpoint.name=e2e-fault")
    assert plan["changes"] == []


def test_killed_mid_deploy_then_rerun_adopts_the_pending_deployment(local_vertex,
                                                                    tmp_path: Path,
                                                                    capsys) -> None:
    admin = EmulatorAdmin(local_vertex.rest_url)
    # get as far as the deploy step (endpoint and version exist), then hold operations
    admin.fail_rpc("DeployModel", count=1, status="FAILED_PRECONDITION")
    assert deploy(capsys, "e2e-killed")[0] == 2
    admin.hold_operations(True)
    env = {"VXDEPLOY_EMULATOR_STATE_DIR": str(local_vertex.state_dir), "PATH": "/usr/bin:/bin",
           "NO_PROXY": "127.0.0.1,localhost", "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "vxdeploy", "deploy", "-p", "local", "--yes",
         "--set=endpoint.name=e2e-killed", "--profiles-dir", str(PROFILES)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any("e2e-killed" in r["resource"] for r in admin.requests(rpc="DeployModel")):
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the deploy never reached DeployModel")
    time.sleep(0.5)  # let the emulator accept the operation before the client dies
    process.kill()
    process.wait(10)
    admin.hold_operations(False)
    admin.release_operations()
    code, _, err = deploy(capsys, "e2e-killed")
    assert code == 0, err
    code, status, _ = run_cli(capsys, "status", "-p", "local", "--set=endpoint.name=e2e-killed")
    assert len(status["deployed_models"]) == 1
    assert status["deployed_models"][0]["traffic_percent"] == 100
    code, plan, _ = run_cli(capsys, "plan", "-p", "local", "--set=endpoint.name=e2e-killed")
    assert plan["changes"] == []


def test_destroy_removes_everything_and_is_repeatable(local_vertex, capsys) -> None:
    assert deploy(capsys, "e2e-destroy")[0] == 0
    code, result, err = run_cli(capsys, "destroy", "-p", "local", "--yes",
                                "--set=endpoint.name=e2e-destroy")
    assert code == 0, err
    assert result["endpoint"].endswith("/endpoints/e2e-destroy")
    assert len(result["alert_policies"]) == 2 and result["model"]
    # destroy is a plan over the same changes deploy uses, applied by the same applier
    assert [c["action"] for c in result["applied"]] == [
        "set-traffic", "undeploy-model", "delete-endpoint", "delete-model",
        "delete-alert-policy", "delete-alert-policy"]
    code, _, _ = run_cli(capsys, "status", "-p", "local", "--set=endpoint.name=e2e-destroy")
    assert code == 3
    code, again, _ = run_cli(capsys, "destroy", "-p", "local", "--yes",
                             "--set=endpoint.name=e2e-destroy")
    assert code == 0 and again["destroyed"] == []


def test_deploy_without_yes_in_ci_refuses_and_changes_nothing(local_vertex, capsys) -> None:
    code, result, _ = run_cli(capsys, "deploy", "-p", "local", "--set=endpoint.name=e2e-noyes")
    assert code == 7 and "--yes" in result["hint"]
    code, _, _ = run_cli(capsys, "status", "-p", "local", "--set=endpoint.name=e2e-noyes")
    assert code == 3


def test_plan_detailed_exitcode(local_vertex, capsys) -> None:
    code, plan, _ = run_cli(capsys, "plan", "-p", "local", "--set=endpoint.name=e2e-plan",
                            "--detailed-exitcode")
    assert code == 2 and plan["summary"]["add"] == 5


@pytest.mark.docker
def test_local_docker_runtime_builds_and_serves_the_image(local_vertex, capsys,
                                                         monkeypatch) -> None:
    """`[local] runtime = "docker"`: deploy builds the image and the emulator runs it."""
    from tests.docker_engine import find_engine, unavailable

    engine = find_engine()
    if not engine.base_image:
        unavailable("no base image (scripts/docker/base-image.sh)", engine.required)
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    sets = ["local.runtime='docker'", f"model.base_image='{engine.base_image}'"]
    code, result, err = deploy(capsys, "e2e-docker", *sets)
    assert code == 0, err
    upload = next(c for c in result["changes"] if c["action"] == "upload-model")
    image = upload["after"]["image_uri"]
    assert "/sentiment-flask:" in image and not image.startswith("local/")
    servers = EmulatorAdmin(local_vertex.rest_url).servers()
    (server,) = [s for s in servers if s["endpoint_id"] == "e2e-docker"]
    assert server["replicas"][0]["runtime"] == "docker"
    assert server["replicas"][0]["container_id"]
    code, answer, err = run_cli(capsys, "predict", "-p", "local", "--set=endpoint.name=e2e-docker",
                                *(f"--set={s}" for s in sets), "--instances", str(INSTANCES))
    assert code == 0, err
    assert len(answer["predictions"]) == len(json.loads(INSTANCES.read_text())["instances"])
    code, _, err = run_cli(capsys, "destroy", "-p", "local", "--yes",
                           "--set=endpoint.name=e2e-docker", *(f"--set={s}" for s in sets))
    assert code == 0, err


def test_keep_versions_deletes_the_oldest_idle_versions(local_vertex, capsys) -> None:
    name = "e2e-prune"
    code, result, err = deploy(capsys, name)
    assert code == 0, err
    loaded = load_profile("local", PROFILES, cli_overrides=[f"endpoint.name={name}"])
    conn = prepare(loaded, Output()).conn
    model = next(c for c in result["changes"] if c["action"] == "upload-model")
    model_name = model["resource"].split("@", 1)[0]
    served = conn.models.get_model(name=model_name)
    for n in range(3):  # versions uploaded and never deployed (failed or abandoned tries)
        copy = {"display_name": served.display_name, "artifact_uri": served.artifact_uri,
                "container_spec": served.container_spec, "labels": {"try": str(n)}}
        conn.models.upload_model(request={"parent": model_name.rsplit("/models/", 1)[0],
                                          "parent_model": model_name, "model": copy}).result()

    def versions() -> list[str]:
        return sorted(v.version_id for v in conn.models.list_model_versions(name=model_name))

    assert len(versions()) == 4
    code, pruned, err = deploy(capsys, name, "model.keep_versions=2")
    assert code == 0, err
    assert [c["action"] for c in pruned["changes"]] == ["delete-model-version"] * 2
    remaining = versions()
    assert len(remaining) == 2 and served.version_id in remaining
    code, again, err = deploy(capsys, name, "model.keep_versions=2")
    assert code == 0 and again["changes"] == [], err
