"""`vxdeploy init` (issue 12): a project folder that validates and a CI workflow that
installs vxdeploy the way it can be installed, through the real console script."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

FILES = ["profiles/base.toml", "profiles/local.toml", "profiles/vertex.toml",
         "model/vxserve.json", "model/README.md", ".github/workflows/vxdeploy.yml",
         "profile.schema.json"]


@pytest.mark.parametrize("container", ["flask", "torchserve", "tensorrt"])
def test_init_scaffolds_profiles_that_validate(vx, tmp_path: Path, container: str) -> None:
    project = tmp_path / "My Sentiment"
    result = vx("init", "--container", container, "--dir", str(project),
                "--project", "acme-ml", "-o", "json")
    assert result.code == 0, result.stderr
    assert sorted(result.json()["written"]) == sorted(str(project / f) for f in FILES)
    check = vx("profiles", "validate", "-o", "json",
               env={"VXDEPLOY_PROFILES_DIR": str(project / "profiles")})
    assert check.code == 0, check.stdout
    shown = vx("profiles", "show", "local", "-o", "json",
               env={"VXDEPLOY_PROFILES_DIR": str(project / "profiles")}).json()
    resolved = shown["resolved"]
    assert resolved["endpoint"]["name"] == "my-sentiment"
    assert resolved["model"]["container"] == container
    assert resolved["model"]["artifact_uri"] == str((project / "model").resolve())
    assert Path(shown["chain"][0]).parent != project / "profiles"  # bundled:base
    vertex = vx("profiles", "show", "vertex", "-o", "json",
                env={"VXDEPLOY_PROFILES_DIR": str(project / "profiles")}).json()["resolved"]
    assert vertex["project"] == "acme-ml" and vertex["target"] == "vertex"
    if container == "tensorrt":
        assert vertex["machine"]["machine_type"].startswith("g2-")
    schema = json.loads((project / "profile.schema.json").read_text())
    assert schema["title"] == "vxdeploy profile"
    for profile in ("base", "local", "vertex"):
        first = (project / "profiles" / f"{profile}.toml").read_text().splitlines()[0]
        assert first == "#:schema ../profile.schema.json"
    manifest = json.loads((project / "model" / "vxserve.json").read_text())
    assert {"format", "handler", "input", "example_instances"} <= set(manifest)


def test_workflow_installs_from_the_repository_and_uses_the_profiles(vx,
                                                                    tmp_path: Path) -> None:
    assert vx("init", "--dir", str(tmp_path), "--container", "torchserve").code == 0
    workflow = yaml.safe_load((tmp_path / ".github/workflows/vxdeploy.yml").read_text())
    assert workflow["permissions"]["id-token"] == "write"
    install = workflow["env"]["VXDEPLOY_INSTALL"]
    assert install.startswith("vxdeploy @ git+https://") or install.endswith(".whl")
    runs = [step["run"] for step in workflow["jobs"]["deploy"]["steps"] if "run" in step]
    assert not any("pip install vxdeploy" in run for run in runs)
    for run in runs:
        for line in run.splitlines():
            if line.strip().startswith("vxdeploy "):
                assert "--profiles-dir profiles" in line, line
    # the validate step, run as CI runs it, in the project folder
    (validate,) = [r for r in runs if "profiles validate" in r]
    args = shlex.split(validate)[1:]
    result = vx(*args, env={"VXDEPLOY_PROFILES_DIR": ""}, cwd=tmp_path)
    assert result.code == 0, result.stderr


def test_init_refuses_to_overwrite_unless_forced(vx, tmp_path: Path) -> None:
    assert vx("init", "--dir", str(tmp_path)).code == 0
    mine = tmp_path / "profiles" / "local.toml"
    mine.write_text("# my edits\n")
    again = vx("init", "--dir", str(tmp_path))
    assert again.code == 2
    assert str(mine) in again.stderr and "--force" in again.stderr
    assert mine.read_text() == "# my edits\n"
    assert vx("init", "--dir", str(tmp_path), "--force").code == 0
    assert "extends" in mine.read_text()


def test_init_refuses_bad_values_before_writing(vx, tmp_path: Path) -> None:
    result = vx("init", "--dir", str(tmp_path), "--region", "us-centrall1",
                "--name", "svc-")
    assert result.code == 2
    assert "did you mean 'us-central1'" in result.stderr
    assert "endpoint.name" in result.stderr
    assert str(tmp_path / "profiles" / "base.toml") in result.stderr
    assert not (tmp_path / "profiles").exists()
    assert vx("init", "--dir", str(tmp_path), "--container", "triton-x").code == 2
