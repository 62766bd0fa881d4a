"""The docker runtime: a clear error without an engine; the real thing where one answers.

The real-engine tests build a tiny image FROM the local base image `make docker-up` makes
(VXDEPLOY_TEST_BASE_IMAGE): nothing is pulled.
"""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
from pathlib import Path

import pytest

from vxdeploy.emulator.runtime import (
    DockerEngineUnavailableError,
    ModelServerSpec,
    ModelServerStartError,
    adopt,
    start_model_server,
)
from vxdeploy.errors import ExitCode


def _spec(tmp_path: Path, image: str, **overrides: object) -> ModelServerSpec:
    values: dict[str, object] = {
        "key": "ep1/dm1",
        "container": "custom",
        "image_uri": image,
        "env": {"AIP_HEALTH_ROUTE": "/health", "AIP_PREDICT_ROUTE": "/predict"},
        "health_route": "/health",
        "predict_route": "/predict",
        "log_path": tmp_path / "docker.log",
        "runtime": "docker",
        "ready_timeout_s": 30,
    }
    values.update(overrides)
    return ModelServerSpec(**values)  # type: ignore[arg-type]


def test_no_engine_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{missing}")
    with pytest.raises(DockerEngineUnavailableError) as caught:
        start_model_server(_spec(tmp_path, "example/model:1"))
    error = caught.value
    assert isinstance(error, ModelServerStartError)  # callers catching the base see it too
    assert error.exit_code == ExitCode.ENGINE_UNAVAILABLE
    assert str(missing) in error.message
    assert "DOCKER_HOST" in (error.hint or "")
    assert "vxdeploy-runtime=process" in (error.hint or "")
    assert "custom container only in Docker" in (error.hint or "")


@pytest.fixture
def engine(docker_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """A client for the test engine, with DOCKER_HOST pointing the runtime at it."""
    import docker

    monkeypatch.setenv("DOCKER_HOST", docker_settings["VXDEPLOY_TEST_DOCKER_HOST"])
    client = docker.DockerClient(base_url=docker_settings["VXDEPLOY_TEST_DOCKER_HOST"], timeout=60)
    yield client
    client.close()


@pytest.fixture
def tiny_image(engine, docker_settings: dict[str, str], tiny_server_source: str) -> str:
    """The tiny server on the local base image (built, never pulled)."""
    base = docker_settings["VXDEPLOY_TEST_BASE_IMAGE"]
    dockerfile = f'FROM {base}\nCOPY tiny_server.py /srv/\nCMD ["python3", "/srv/tiny_server.py"]\n'
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", dockerfile), ("tiny_server.py", tiny_server_source)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = "vxdeploy-test/tiny-server:latest"
    engine.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, pull=False)
    return tag


@pytest.mark.docker
def test_runs_an_image_and_removes_it(tmp_path: Path, engine, tiny_image: str) -> None:
    server = start_model_server(_spec(tmp_path, tiny_image))
    try:
        assert server.container_id and server.alive()
        request = urllib.request.Request(
            server.base_url + "/predict",
            data=json.dumps({"instances": [[1, 2]]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["predictions"] == [3]
        container = engine.containers.get(server.container_id)
        assert container.labels["vxdeploy"] == "true"
        assert container.labels["vxdeploy.key"] == "ep1/dm1"
        assert adopt(json.loads(json.dumps(server.info()))).alive()
    finally:
        server.stop(grace_s=2)
    assert not server.alive()
    assert not engine.containers.list(all=True, filters={"id": server.container_id})


@pytest.mark.docker
def test_crashing_container_fails_fast_with_its_log(tmp_path: Path, tiny_image: str) -> None:
    spec = _spec(tmp_path, tiny_image, env={"TINY_MODE": "crash", "AIP_HEALTH_ROUTE": "/health"})
    with pytest.raises(ModelServerStartError) as caught:
        start_model_server(spec)
    assert "model file missing" in caught.value.log_tail


@pytest.mark.docker
def test_missing_image_is_a_clear_error(tmp_path: Path, engine) -> None:
    image = "127.0.0.1:9/vxdeploy-test/never-built:1"  # nothing listens on port 9
    with pytest.raises(ModelServerStartError) as caught:
        start_model_server(_spec(tmp_path, image))
    assert f"image {image!r} is not in the engine and pulling it failed" in str(caught.value)
    assert "vxdeploy build" in (caught.value.hint or "")


REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "examples" / "sentiment" / "artifacts" / "torchscript"


def _flask_image(engine) -> str | None:
    """The bundled flask image tests/build leaves in the engine (building it takes minutes)."""
    for image in engine.images.list():
        for tag in image.tags:
            if tag.rsplit(":", 1)[0].endswith("/vxdeploy/sentiment-flask"):
                return tag
    return None


@pytest.mark.docker
@pytest.mark.slow
def test_bundled_flask_image_with_local_artifacts(tmp_path: Path, engine) -> None:
    image = _flask_image(engine)
    if image is None:
        pytest.skip("no sentiment-flask image in the engine (tests/build makes it)")
    if not (ARTIFACTS / "model.pt").is_file():
        pytest.skip(f"no example model at {ARTIFACTS}: run `make example`")
    env = {
        "AIP_HEALTH_ROUTE": "/health",
        "AIP_PREDICT_ROUTE": "/predict",
        "AIP_STORAGE_URI": f"file://{ARTIFACTS}",  # mounted read-only by the runtime
        "VXSERVE_TORCH_THREADS": "1",
    }
    server = start_model_server(_spec(tmp_path, image, env=env, ready_timeout_s=120))
    try:
        body = (REPO / "examples" / "sentiment" / "instances.json").read_bytes()
        request = urllib.request.Request(
            server.base_url + "/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
        assert len(predictions) == len(json.loads(body)["instances"])
        mounts = engine.containers.get(server.container_id).attrs["Mounts"]
        assert [(m["Source"], m["Destination"], m["RW"]) for m in mounts] == [
            (str(ARTIFACTS), str(ARTIFACTS), False)
        ]
    finally:
        server.stop(grace_s=10)
