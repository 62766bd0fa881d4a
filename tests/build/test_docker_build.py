"""build_image against a real engine and registry, with a small container of our own.

The container is tiny (a few COPY/RUN steps on the local base image) so these tests take
seconds; tests/build/test_bundled_images.py does the same with the real serving containers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vxdeploy.build import (
    BaseImageUnavailableError,
    BuildFailedError,
    build_image,
)
from vxdeploy.profile import load_profile

# The first push to an empty registry carries the base image's layers (minutes, once).
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

DOCKERFILE = """\
ARG BASE_IMAGE=vxdeploy-test/not-here:0
FROM ${BASE_IMAGE}
COPY vxserve/ /app/vxserve/
COPY app.py /app/
RUN python3 -c "import sys; sys.path.insert(0, '/app'); import vxserve; print('mark', vxserve.MARK)"
RUN useradd --create-home app
USER app
CMD ["python3", "/app/app.py"]
"""
APP = """\
import json, os, sys
sys.path.insert(0, "/app")
import vxserve
print(json.dumps({"mark": vxserve.MARK, "handler": os.environ.get("VXSERVE_HANDLER"),
                  "user": os.getuid(), "path": os.environ.get("PYTHONPATH")}))
"""


@pytest.fixture
def project(tmp_path: Path, unique: str) -> Path:
    """containers/{flask,common/vxserve} of our own, and a profile with a handler."""
    root = tmp_path / "containers"
    (root / "flask").mkdir(parents=True)
    (root / "flask" / "Dockerfile").write_text(DOCKERFILE)
    (root / "flask" / "app.py").write_text(APP)
    (root / "common" / "vxserve").mkdir(parents=True)
    (root / "common" / "vxserve" / "__init__.py").write_text(f"MARK = {unique!r}\n")
    (tmp_path / "handler.py").write_text("# the user's handler\n")
    (tmp_path / "p.toml").write_text(
        f'target = "local"\nproject = "t{unique}"\n'
        '[model]\ndisplay_name = "tiny"\nhandler = "handler.py:Handler"\n')
    return tmp_path


def load(project: Path, *sets: str):
    return load_profile(str(project / "p.toml"), project, cli_overrides=sets)


def build(project: Path, **kwargs):
    kwargs.setdefault("push", False)
    return build_image(load(project), containers_root=project / "containers", **kwargs)


def run_app(client, image: str) -> dict:
    out = client.containers.run(image, remove=True, network_mode="host")
    return json.loads(out.decode().strip().splitlines()[-1])


def test_build_then_reuse_then_rebuild_on_change(project, client, base_image):
    lines: list[str] = []
    first = build(project, base_image=base_image, progress=lambda line, step: lines.append(line))
    assert not first.reused and first.digest is None and first.image_id.startswith("sha256:")
    assert any(line.startswith("Step 1/") for line in lines)  # streamed, readable progress
    image = client.images.get(first.image)
    assert image.id == first.image_id
    assert image.labels["ai.vxdeploy.build-hash"].startswith(first.tag)
    # The profile's handler is in the image, wired for vxserve, and the user is restored.
    assert image.attrs["Config"]["User"] == "app"
    ran = run_app(client, first.image)
    assert ran["mark"] == project.joinpath("containers/common/vxserve/__init__.py").read_text(
    ).split("'")[1]
    assert ran["handler"] == "/opt/vxdeploy/user/handler.py:Handler"
    assert ran["path"].startswith("/opt/vxdeploy/user") and ran["user"] != 0

    again = build(project, base_image=base_image)
    assert again.reused and again.tag == first.tag and again.image_id == first.image_id
    assert "build" not in again.timings

    (project / "handler.py").write_text("# changed\n")
    changed = build(project, base_image=base_image)
    assert not changed.reused and changed.tag != first.tag
    for result in (first, changed):
        client.images.remove(result.image, force=True)


def test_push_gives_a_digest_that_round_trips(project, client, base_image, registry):
    pushed = build(project, base_image=base_image, push=True, registry=registry, tags=["latest"])
    assert pushed.image.startswith(f"{registry}/t")
    assert pushed.pushed and pushed.digest.startswith("sha256:")
    assert pushed.reference == f"{pushed.repository}@{pushed.digest}"
    # The registry serves the same digest for the content tag and the extra tag ...
    for tag in (pushed.tag, "latest"):
        found = client.api.inspect_distribution(f"{pushed.repository}:{tag}")
        assert found["Descriptor"]["digest"] == pushed.digest
    # ... and the engine can run the image by digest alone, after forgetting it locally.
    client.images.remove(pushed.image, force=True)
    client.images.remove(f"{pushed.repository}:latest", force=True)
    client.images.pull(pushed.reference)
    assert run_app(client, pushed.reference)["handler"].endswith("handler.py:Handler")

    # Unchanged inputs: found in the registry, neither built nor pushed again.
    again = build(project, base_image=base_image, push=True, registry=registry)
    assert again.reused and again.digest == pushed.digest and again.tag == pushed.tag
    assert "build" not in again.timings and "push" not in again.timings
    client.images.remove(pushed.reference, force=True)


def test_registry_from_environment_and_cli_json(project, docker_env, client, base_image,
                                                registry):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "DOCKER_HOST": docker_env.host,
           "VXDEPLOY_REGISTRY": registry, "VXDEPLOY_CONTAINERS_DIR": str(project / "containers")}
    proc = subprocess.run(
        [sys.executable, "-c", "from vxdeploy.cli import main; main()", "build",
         "--profile", str(project / "p.toml"), "--push", "--base-image", base_image,
         "--output", "json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = json.loads(proc.stdout)  # stdout is one JSON document; progress went to stderr
    assert body["image"].startswith(f"{registry}/") and body["pushed"] is True
    assert body["digest"].startswith("sha256:") and body["image"].endswith(":" + body["tag"])
    assert body["reference"] == f"{body['repository']}@{body['digest']}"
    assert set(body) >= {"image", "tag", "digest", "built", "reused", "reference"}
    assert "Step 1/" in proc.stderr
    client.images.remove(body["image"], force=True)


def test_base_image_that_cannot_be_pulled_is_a_clear_error(project, docker_env):
    with pytest.raises(BaseImageUnavailableError) as caught:
        build(project, base_image="127.0.0.1:1/vxdeploy-test/absent:1")
    assert "cannot be pulled" in caught.value.message
    assert "--base-image" in caught.value.hint
    assert caught.value.exit_code == 8


def test_failing_step_names_the_step_and_shows_its_output(project, docker_env, base_image):
    dockerfile = project / "containers" / "flask" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        "RUN useradd", "RUN echo about-to-fail && false\nRUN useradd"))
    with pytest.raises(BuildFailedError) as caught:
        build(project, base_image=base_image)
    assert "echo about-to-fail" in caught.value.message
    assert "about-to-fail" in caught.value.hint
