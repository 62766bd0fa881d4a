"""examples/ci/ really runs: both files are valid for their service, and every step works.

The GitHub Actions workflow and the Cloud Build config are checked against the services'
own schemas (check-jsonschema's bundled copies of SchemaStore's github-workflows and
cloudbuild schemas), then each step's shell script runs in order against the local
emulator: the GitHub run as a push to main deploys the example model from scratch, the
Cloud Build run after it finds the endpoint converged (plan exit 0, nothing to roll out).
Cloud-only pieces are swapped for local equivalents through environment variables only:
the profile is `local`, the package to install is this checkout (pip resolves it against
the installed dependencies and installs nothing: `PIP_DRY_RUN`), the image is the one a
local process deployment records, and the step images' Python is this machine's, whose
`-m venv` gives a folder whose `vxdeploy` is this checkout's.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .ci_runner import run_cloud_build, run_github_workflow

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "examples" / "ci"
WORKFLOW, CLOUDBUILD = CI / "github-actions.yml", CI / "cloudbuild.yaml"
LOCAL_IMAGE = "local/vxdeploy-flask:process"  # what the `local` profile records
GITHUB_ACTIONS = {"actions/checkout@v4", "actions/setup-python@v5",
                  "google-github-actions/auth@v2", "google-github-actions/setup-gcloud@v2",
                  "actions/upload-artifact@v4"}


@pytest.mark.parametrize(("path", "schema"), [(WORKFLOW, "vendor.github-workflows"),
                                              (CLOUDBUILD, "vendor.cloudbuild")])
def test_examples_match_their_service_schema(path: Path, schema: str) -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run([str(checker), "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def local_tools(folder: Path) -> Path:
    """`python`/`python3` standing in for the step images' Python, and the `vxdeploy` that
    `pip install` would put on PATH; both this checkout's, on this machine's interpreter."""
    folder.mkdir(parents=True)
    py = sys.executable
    vxdeploy = f'#!/bin/sh\nexec "{py}" -m vxdeploy "$@"\n'
    _executable(folder / "vxdeploy", vxdeploy)
    python = f'''#!/bin/sh
# `python -m venv DIR`: a folder whose python and vxdeploy are these (the packages are here).
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  cp "{folder}/vxdeploy" "$3/bin/vxdeploy"
  cp "{folder}/python" "$3/bin/python"
  exit 0
fi
exec "{py}" "$@"
'''
    _executable(folder / "python", python)
    _executable(folder / "python3", python)
    return folder


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory):
    """Environment shared by both runs: one emulator home, tools, pip in dry-run mode."""
    root = tmp_path_factory.mktemp("ci")
    tools = local_tools(root / "tools")
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "PYTHONPATH": str(REPO),
        "VXDEPLOY_HOME": str(root / "vxdeploy-home"),
        "VXDEPLOY_PROFILES_DIR": str(REPO / "profiles"),
        "NO_PROXY": "127.0.0.1,localhost",
        "COLUMNS": "200",
        # pip resolves the package against what is installed here and installs nothing.
        "PIP_DRY_RUN": "1", "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for key in ("PIP_FIND_LINKS", "PIP_CERT", "LANG"):
        if key in os.environ:
            env[key] = os.environ[key]
    try:
        yield root, env
    finally:
        subprocess.run([sys.executable, "-m", "vxdeploy", "local", "down"], env=env,
                       capture_output=True, timeout=120)


LOCAL = {"PROFILE": "local", "VXDEPLOY_PACKAGE": f"vxdeploy @ file://{REPO}",
         "VXDEPLOY_IMAGE": LOCAL_IMAGE}


def test_both_examples_run_every_step_against_the_emulator(machine) -> None:
    root, env = machine
    github_ws = root / "github"
    github_ws.mkdir()
    github = run_github_workflow(WORKFLOW, workspace=github_ws, base_env=env, overrides=LOCAL)
    print("\ngithub steps (s):", {k: round(v, 1) for k, v in github.seconds.items()})
    assert set(github.skipped_actions) == GITHUB_ACTIONS
    assert github.ran == ["Install vxdeploy", "Validate profiles", "build", "Plan", "Deploy",
                          "Progressive rollout with automatic rollback"]
    assert "Would install vxdeploy" in github.logs["Install vxdeploy"]
    assert github.outputs["build"] == {"image": LOCAL_IMAGE}
    assert json.loads((github_ws / "plan.json").read_text())["changes"]
    assert "nothing to roll out" in github.logs["Progressive rollout with automatic rollback"]

    cloud_ws = root / "cloudbuild"
    cloud_ws.mkdir()
    cloud = run_cloud_build(CLOUDBUILD, workspace=cloud_ws, base_env=env, substitutions={
        "_PROFILE": "local", "_VXDEPLOY_PACKAGE": LOCAL["VXDEPLOY_PACKAGE"],
        "_IMAGE": LOCAL_IMAGE})
    print("cloud build steps (s):", {k: round(v, 1) for k, v in cloud.seconds.items()})
    assert cloud.ran == ["install", "validate", "build-image", "plan", "deploy", "rollout"]
    assert (cloud_ws / "image.txt").read_text().strip() == LOCAL_IMAGE
    # The GitHub run converged the endpoint: Cloud Build's re-run plans nothing.
    assert json.loads((cloud_ws / "plan.json").read_text())["changes"] == []

    predict = subprocess.run(
        [sys.executable, "-m", "vxdeploy", "predict", "--profile", "local", "--instances",
         str(REPO / "examples" / "sentiment" / "instances.json"), "-o", "json"],
        env=env, capture_output=True, text=True, timeout=120)
    assert predict.returncode == 0, predict.stderr
    assert len(json.loads(predict.stdout)["predictions"]) == 4


def test_unescaped_dollar_fails_like_cloud_build(tmp_path: Path) -> None:
    from .ci_runner import StepFailed

    broken = tmp_path / "cloudbuild.yaml"
    text = CLOUDBUILD.read_text()
    assert '"$$VENV/bin/python" -m pip' in text
    broken.write_text(text.replace('"$$VENV/bin/python" -m pip', '"$VENV/bin/python" -m pip'))
    with pytest.raises(StepFailed, match=r"\$VENV .* is not a substitution"):
        run_cloud_build(broken, workspace=tmp_path, base_env={}, substitutions={})
