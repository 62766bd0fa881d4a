"""`[model.triton]`: the profile's batching fields reach Triton's config.pbtxt, and values
Triton would refuse are refused at validation with the file, the field and what is allowed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROFILES, REPO

sys.path.insert(0, str(REPO / "containers" / "triton"))
sys.path.insert(0, str(REPO / "containers" / "common"))

from vxtriton.repository import generate

ARTIFACTS = REPO / "examples" / "sentiment" / "artifacts" / "torchscript"
TRITON = ('extends = "bundled:local"\n[model]\ncontainer = "triton"\n'
          f'artifact_uri = "{ARTIFACTS}"\n')


def _profile(tmp_path: Path, text: str, name: str = "tri") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VXDEPLOY_")}
    env.update(VXDEPLOY_PROFILES_DIR=str(PROFILES), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "vxdeploy", "-o", "json", "profiles",
                           "validate", str(path)], capture_output=True, text=True, env=env,
                          timeout=120)


def _problems(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return {p["field"]: p for p in json.loads(result.stdout)["results"][0]["problems"]}


def test_profile_fields_reach_config_pbtxt(tmp_path: Path) -> None:
    from vxdeploy.desired import desired_state
    from vxdeploy.profile import load_profile

    path = _profile(tmp_path, TRITON + "[model.triton]\nmax_batch_size = 24\n"
                    "preferred_batch_sizes = [4, 12]\nmax_queue_delay_us = 750\n"
                    "instance_count = 3\n")
    profile = load_profile(str(path), PROFILES).profile
    env = dict(desired_state(profile, "local/vxdeploy-triton:process").model.env)
    config = (generate(ARTIFACTS, tmp_path / "models", env) / "config.pbtxt").read_text()
    assert "max_batch_size: 24" in config
    assert "preferred_batch_size: [ 4, 12 ]" in config
    assert "max_queue_delay_microseconds: 750" in config
    assert "count: 3 kind: KIND_CPU" in config  # local: the CPU-only tritonserver


def test_ensemble_field_makes_an_ensemble_repository(tmp_path: Path) -> None:
    from vxdeploy.desired import desired_state
    from vxdeploy.profile import load_profile

    path = _profile(tmp_path, TRITON + "[model.triton]\nensemble = true\n")
    profile = load_profile(str(path), PROFILES).profile
    env = dict(desired_state(profile, "local/vxdeploy-triton:process").model.env)
    folder = generate(ARTIFACTS, tmp_path / "models", env)
    assert 'platform: "ensemble"' in (folder / "config.pbtxt").read_text()
    assert {p.name for p in (tmp_path / "models").iterdir()} == {
        "model", "preprocess", "infer", "postprocess"}


def test_gpu_machine_puts_instances_on_the_gpu(tmp_path: Path) -> None:
    from vxdeploy.profile import load_profile
    from vxdeploy.profile.triton import triton_environment

    path = _profile(tmp_path, 'project = "proj-p"\nstaging_bucket = "gs://b"\n[model]\n'
                    'container = "triton"\nartifact_uri = "gs://b/m"\n[machine]\n'
                    'machine_type = "g2-standard-8"\n[model.triton]\ninstance_count = 2\n')
    env = triton_environment(load_profile(str(path), PROFILES).profile)
    assert env["VXSERVE_TRITON_INSTANCE_KIND"] == "KIND_GPU"
    assert env["VXSERVE_TRITON_INSTANCE_COUNT"] == "2"


def test_changing_batching_makes_a_new_model_version(tmp_path: Path) -> None:
    from vxdeploy.desired import model_fingerprint
    from vxdeploy.profile import load_profile

    one = load_profile(str(_profile(tmp_path, TRITON)), PROFILES).profile
    two = load_profile(str(_profile(tmp_path, TRITON + "[model.triton]\nmax_batch_size = 8\n",
                                    "tri2")), PROFILES).profile
    assert model_fingerprint(one, "i") != model_fingerprint(two, "i")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [("[model.triton]\npreferred_batch_sizes = [8, 64]\n", "model.triton.preferred_batch_sizes",
      "[64] larger than max_batch_size 32"),
     ("[model.triton]\npreferred_batch_sizes = [0]\n", "model.triton.preferred_batch_sizes.0",
      "greater than or equal to 1"),
     ("[model.triton]\nmax_queue_delay_us = -5\n", "model.triton.max_queue_delay_us",
      "greater than or equal to 0"),
     ("[model.triton]\ninstance_count = \"2\"\n", "model.triton.instance_count",
      "valid integer"),
     ("[model.triton]\nmax_batch_sizes = 8\n", "model.triton.max_batch_sizes",
      "did you mean 'max_batch_size'"),
     ("[model.triton]\nmax_batch_size = 8\n[model.env]\nVXSERVE_TRITON_MAX_BATCH_SIZE = \"4\"\n",
      "model.env.VXSERVE_TRITON_MAX_BATCH_SIZE", "beside model.triton.max_batch_size")],
)
def test_bad_batching_value_is_a_clear_error(tmp_path: Path, body: str, field: str,
                                             words: str) -> None:
    path = _profile(tmp_path, TRITON + body)
    found = _problems(_validate(path))
    assert field in found, found
    assert words in found[field]["message"]
    assert found[field]["file"] == str(path)


def test_batching_on_another_container_is_refused(tmp_path: Path) -> None:
    path = _profile(tmp_path, 'extends = "bundled:local"\n[model.triton]\nmax_batch_size = 8\n')
    found = _problems(_validate(path))
    assert "container 'flask'" in found["model.triton"]["message"]
    assert 'container = "triton"' in found["model.triton"]["allowed"]
