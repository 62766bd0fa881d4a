"""A user's own serving image through the emulator, run the way Vertex runs it.

Upload (GAPIC REST) a Model with no bundled-server label, deploy it and predict: the
emulator runs the image in the private Docker engine with exactly Vertex's environment,
the Model's command/args with `$(VAR)` expansion, on a loopback port. The image is built
FROM the local base image `make docker-up` makes (nothing is pulled).
"""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

import pytest

from tests.emulator.conftest import PARENT, create_endpoint, deploy, make_clients, upload

ENV_SERVER = textwrap.dedent(
    """
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def _send(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send({"ok": True})

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self._send({"predictions": [{"argv": sys.argv[1:], "env": dict(os.environ)}]})

    HTTPServer(("0.0.0.0", int(os.environ["AIP_HTTP_PORT"])), Handler).serve_forever()
    """
)

@pytest.fixture(scope="module")
def env_image(docker_settings: dict[str, str]) -> str:
    import docker

    client = docker.DockerClient(base_url=docker_settings["VXDEPLOY_TEST_DOCKER_HOST"],
                                 timeout=120)
    dockerfile = (f"FROM {docker_settings['VXDEPLOY_TEST_BASE_IMAGE']}\n"
                  "COPY env_server.py /srv/\n"
                  'ENTRYPOINT ["python3", "/srv/env_server.py"]\nCMD ["from-image-cmd"]\n')
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", dockerfile), ("env_server.py", ENV_SERVER)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = "vxdeploy-test/env-server:1"
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, pull=False)
    client.close()
    return tag


def _image_env(image: str, docker_settings: dict[str, str]) -> set[str]:
    """The variables the image's own ENV lines set."""
    import docker

    client = docker.DockerClient(base_url=docker_settings["VXDEPLOY_TEST_DOCKER_HOST"])
    try:
        config = client.images.get(image).attrs["Config"]
    finally:
        client.close()
    return {item.split("=", 1)[0] for item in config.get("Env") or []}


@pytest.mark.docker
def test_custom_image_runs_in_docker_with_vertex_environment_and_expanded_args(
    env_image: str, docker_settings: dict[str, str], emulator, gcs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_settings["VXDEPLOY_TEST_DOCKER_HOST"])
    monkeypatch.setenv("EMULATOR_SHELL_SECRET", "must-not-leak")
    v1 = make_clients(emulator.rest_url)
    t = v1.types
    model = upload(v1, t.Model(
        display_name="custom",
        container_spec=t.ModelContainerSpec(
            image_uri=env_image,
            args=["--tag=$(MODEL_TAG)", "$$(MODEL_TAG)", "$(NOT_SET)", "{braces} {0}",
                  "$(AIP_DEPLOYED_MODEL_ID)"],
            env=[t.EnvVar(name="MODEL_TAG", value="t1")],
            ports=[t.Port(container_port=7080)],
            health_route="/ping", predict_route="/go",
        ),
    )).model
    endpoint = create_endpoint(v1, "4242").name
    dm = deploy(v1, endpoint, model)
    (answer,) = v1.predictions.predict(endpoint=endpoint, instances=[[1]]).predictions
    argv, env = list(answer["argv"]), dict(answer["env"])
    assert argv == ["--tag=t1", "$(MODEL_TAG)", "$(NOT_SET)", "{braces} {0}", dm.id]
    expected = {
        "AIP_HEALTH_ROUTE": "/ping", "AIP_PREDICT_ROUTE": "/go", "AIP_MODE": "PREDICTION",
        "AIP_DEPLOYED_MODEL_ID": dm.id, "AIP_ENDPOINT_ID": "4242",
        "AIP_MODEL_NAME": model.rsplit("/", 1)[-1], "AIP_VERSION_NAME": "1",
        "AIP_MACHINE_TYPE": "n1-standard-2", "AIP_FRAMEWORK": "CUSTOM_CONTAINER",
        "AIP_STORAGE_URI": "", "MODEL_TAG": "t1", "STORAGE_EMULATOR_HOST": gcs.url,
    }
    assert {k: env.get(k) for k in expected} == expected
    assert env["AIP_PROJECT_NUMBER"].isdigit() and env["AIP_MODE_VERSION"]
    assert "EMULATOR_SHELL_SECRET" not in env
    # Nothing else from the emulator: only what the image and Docker itself set.
    assert "AIP_ACCELERATOR_TYPE" not in env  # unset without an accelerator, as on Vertex
    extra = set(env) - set(expected) - {"AIP_PROJECT_NUMBER", "AIP_MODE_VERSION",
                                        "AIP_HTTP_PORT"}
    assert extra <= _image_env(env_image, docker_settings) | {"HOSTNAME", "HOME"}, extra
    v1.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=dm.id).result(timeout=60)


def test_no_engine_refuses_the_deploy_at_once_without_running_anything(
    emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.api_core import exceptions

    from tests.emulator.conftest import error_status

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    marker = tmp_path / "ran"
    v1 = make_clients(emulator.rest_url)
    t = v1.types
    model = upload(v1, t.Model(display_name="evil", labels={"vxdeploy-runtime": "process"},
                               container_spec=t.ModelContainerSpec(
                                   image_uri="example.com/evil:1",
                                   command=["/bin/sh", "-c", f"touch {marker}"]))).model
    endpoint = create_endpoint(v1, "4243").name
    with pytest.raises(exceptions.BadRequest) as caught:
        deploy(v1, endpoint, model)
    assert error_status(caught.value) == "FAILED_PRECONDITION"
    assert "make docker-up" in caught.value.message
    assert not marker.exists()
    assert PARENT in model


@pytest.mark.docker
def test_profile_with_custom_image_and_docker_runtime_deploys_and_predicts(
    env_image: str, docker_settings: dict[str, str], local_vertex, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The user's own image (built from their Dockerfile) and a profile with
    `container = "custom"` and `[local] runtime = "docker"`: `vxdeploy deploy` then
    `vxdeploy predict` through the emulator, as on Vertex."""
    import json

    from vxdeploy.cli import main

    monkeypatch.setenv("DOCKER_HOST", docker_settings["VXDEPLOY_TEST_DOCKER_HOST"])
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "mine.toml").write_text(f"""
target = "local"
project = "local-project"

[endpoint]
name = "custom-e2e"

[model]
container = "custom"
image = "{env_image}"
predict_route = "/go"
health_route = "/ping"
port = 7080
env = {{ MODEL_TAG = "t1" }}

[machine]
machine_type = "n1-standard-2"
min_replicas = 1
max_replicas = 1

[local]
runtime = "docker"
""")
    instances = tmp_path / "instances.json"
    instances.write_text('{"instances": [[1]]}')

    def cli(*args: str) -> tuple[int, dict, str]:
        capsys.readouterr()
        code = 0
        try:
            main([*args, "--profiles-dir", str(profiles), "-o", "json"])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else {}), err

    code, _, err = cli("deploy", "-p", "mine", "--yes")
    assert code == 0, err
    code, answer, err = cli("predict", "-p", "mine", "--instances", str(instances))
    assert code == 0, err
    (prediction,) = answer["predictions"]
    assert prediction["env"]["MODEL_TAG"] == "t1"
    assert prediction["env"]["AIP_PREDICT_ROUTE"] == "/go"
    assert prediction["argv"] == ["from-image-cmd"]  # no command/args: the image's own CMD
    code, _, err = cli("destroy", "-p", "mine", "--yes")
    assert code == 0, err
