"""A real image built with `model.compile = "compile"`: the build step compiled the model,
so a replica started from the image finds every kernel in the image's cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.containers.compiled_model import make_state_dict_model
from vxdeploy.build import build_image
from vxdeploy.paths import containers_dir
from vxdeploy.profile import load_profile

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_replica_of_the_built_image_does_not_compile_again(docker_env, client, base_image,
                                                             registry, tmp_path: Path) -> None:
    model = make_state_dict_model(tmp_path / "model")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "warm.toml").write_text(
        'target = "local"\nproject = "local-project"\n[model]\ndisplay_name = "warm"\n'
        f'artifact_uri = "{model}"\ncompile = "compile"\n'
        '[model.env]\nVXSERVE_TORCH_THREADS = "1"\n')
    snapshot = tmp_path / "containers"
    shutil.copytree(containers_dir(), snapshot,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    loaded = load_profile("warm", tmp_path / "profiles")
    result = build_image(loaded, push=False, base_image=base_image, registry=registry,
                         containers_root=snapshot)
    # What a new replica does at start-up, as the server's own user, in the image.
    out = client.containers.run(
        result.reference, ["python3", "-m", "vxserve.warm", "/opt/vxdeploy/warm-artifacts"],
        environment={"VXSERVE_COMPILE": "compile", "VXSERVE_TORCH_THREADS": "1"},
        network_mode="none", remove=True, stdout=True, stderr=False)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["cache_hit"] is True and report["fx_misses"] == 0, report
    assert report["cache_dir"] == "/opt/vxdeploy/compile-cache"
