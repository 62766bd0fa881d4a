"""`gcloud ai` against the emulator: it sends ?alt=json, polls operations under /v1/ and
renders errors from the JSON error body. Needs the gcloud CLI (skipped without it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud not installed")]


@pytest.fixture
def gcloud(emulator, tmp_path: Path):
    config = tmp_path / "gcloud"
    (config / "configurations").mkdir(parents=True)
    (config / "active_config").write_text("default")
    (config / "configurations" / "config_default").write_text(
        f"[core]\nproject = gp\ndisable_usage_reporting = True\n"
        f"[auth]\ndisable_credentials = True\n"
        f"[api_endpoint_overrides]\naiplatform = {emulator.rest_url}/\n")
    env = dict(os.environ, CLOUDSDK_CONFIG=str(config), CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               NO_PROXY="127.0.0.1,localhost")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["gcloud", "ai", *args, "--region=us-central1"], env=env,
                                capture_output=True, text=True, timeout=180)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return run


def test_gcloud_endpoint_model_deploy_predict_undeploy_delete(gcloud, admin, tmp_path: Path):
    gcloud("endpoints", "create", "--display-name=gep", "--endpoint-id=gep1", "--labels=a=b")
    gcloud("models", "upload", "--display-name=gm", "--model-id=gm1",
           "--container-image-uri=us-docker.pkg.dev/test/echo:1",
           "--labels=vxdeploy-container=echo",
           "--container-health-route=/health", "--container-predict-route=/predict")

    bad = gcloud("endpoints", "deploy-model", "gep1", "--model=gm1", "--display-name=bad",
                 "--machine-type=n1-standard-8", "--accelerator=type=nvidia-tesla-a100,count=1",
                 check=False)
    assert bad.returncode != 0 and "NVIDIA_TESLA_A100" in bad.stderr

    admin.delay_operations(1.0)  # the deploy stays pending: gcloud must poll it
    seq = admin.last_seq()
    gcloud("endpoints", "deploy-model", "gep1", "--model=gm1", "--display-name=dm",
           "--machine-type=n1-standard-2", "--traffic-split=0=100")
    polls = admin.requests(since=seq, rpc="GetOperation")
    # gcloud polls under the versioned path (/v1beta1/ in gcloud 528), not /ui/.
    assert polls and all(p["path"].startswith(("/v1/", "/v1beta1/")) for p in polls)
    admin.delay_operations(0)

    described = json.loads(gcloud("endpoints", "describe", "gep1", "--format=json").stdout)
    (deployed,) = described["deployedModels"]
    assert described["trafficSplit"] == {deployed["id"]: 100}
    # gcloud's snake_case mask reaches the split rules: the values must sum to 100.
    half = gcloud("endpoints", "update", "gep1", f"--traffic-split={deployed['id']}=50",
                  check=False)
    assert half.returncode != 0
    assert "INVALID_ARGUMENT" in half.stderr and "must be 100" in half.stderr

    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [[1, 2]]}))
    predicted = gcloud("endpoints", "predict", "gep1", f"--json-request={request}",
                       "--format=json")
    assert json.loads(predicted.stdout)["predictions"][0]["served_by"] == deployed["id"]

    gcloud("endpoints", "undeploy-model", "gep1", f"--deployed-model-id={deployed['id']}")
    gcloud("endpoints", "delete", "gep1")
    missing = gcloud("endpoints", "describe", "gep1", check=False)
    assert missing.returncode != 0 and "NOT_FOUND" in missing.stderr


def test_gcloud_custom_container_command_never_runs_on_the_host(gcloud, tmp_path: Path,
                                                                 monkeypatch) -> None:
    """A user's container (no bundled-server label) needs Docker; without an engine the
    deploy is refused at once, and its command is not run here."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    marker = tmp_path / "ran"
    gcloud("endpoints", "create", "--display-name=cep", "--endpoint-id=cep1")
    gcloud("models", "upload", "--display-name=cm", "--model-id=cm1",
           "--container-image-uri=us-docker.pkg.dev/test/custom:1",
           "--container-command=/bin/sh", f"--container-args=-c,touch {marker}")
    refused = gcloud("endpoints", "deploy-model", "cep1", "--model=cm1", "--display-name=c",
                     "--machine-type=n1-standard-2", check=False)
    assert refused.returncode != 0
    assert "FAILED_PRECONDITION" in refused.stderr and "make docker-up" in refused.stderr
    assert not marker.exists()


def test_gcloud_endpoints_update_sends_snake_case_masks(gcloud, admin):
    """gcloud sends `updateMask=display_name` (snake_case); Vertex accepts both spellings."""
    gcloud("endpoints", "create", "--display-name=before", "--endpoint-id=upd1")
    gcloud("endpoints", "update", "upd1", "--display-name=after", "--update-labels=team=ml")
    described = json.loads(gcloud("endpoints", "describe", "upd1", "--format=json").stdout)
    assert described["displayName"] == "after" and described["labels"] == {"team": "ml"}
    # The split rules are reached: an unknown deployed model id is INVALID_ARGUMENT.
    unknown = gcloud("endpoints", "update", "upd1", "--traffic-split=424242=100", check=False)
    assert unknown.returncode != 0
    assert "INVALID_ARGUMENT" in unknown.stderr and "424242" in unknown.stderr


def test_gcloud_operations_describe_takes_the_location_scoped_name(gcloud, emulator):
    gcloud("endpoints", "create", "--display-name=ops", "--endpoint-id=ops1")
    with emulator.emu.store.lock:
        (name,) = [n for n in emulator.emu.store.operations if "/endpoints/ops1/" in n]
    op_id = name.rsplit("/", 1)[-1]
    described = json.loads(gcloud("operations", "describe", op_id, "--format=json").stdout)
    assert described["name"] == name and described["done"] is True
    full = f"projects/gp/locations/us-central1/operations/{op_id}"
    assert json.loads(gcloud("operations", "describe", full, "--format=json").stdout)["done"]
    missing = gcloud("operations", "describe", "999", check=False)
    assert missing.returncode != 0 and "NOT_FOUND" in missing.stderr
