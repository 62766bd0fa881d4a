"""Emulator test fixtures: an in-process emulator, real GAPIC REST clients, model helpers."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ECHO_SERVER = Path(__file__).resolve().parent / "echo_server.py"
SERVERS = Path(__file__).resolve().parent / "servers"  # process manifests of test servers
SENTIMENT = REPO / "examples" / "sentiment"
PARENT = "projects/test-project/locations/us-central1"


@dataclass
class Clients:
    """The GAPIC REST clients of one API version, pointed at the emulator."""

    types: Any
    endpoints: Any
    models: Any
    predictions: Any


def make_clients(rest_url: str, version: str = "v1") -> Clients:
    from google.auth.credentials import AnonymousCredentials

    if version == "v1":
        from google.cloud import aiplatform_v1 as module
    else:
        from google.cloud import aiplatform_v1beta1 as module
    kwargs = {
        "client_options": {"api_endpoint": rest_url},
        "credentials": AnonymousCredentials(),
        "transport": "rest",
    }
    return Clients(
        module,
        module.EndpointServiceClient(**kwargs),
        module.ModelServiceClient(**kwargs),
        module.PredictionServiceClient(**kwargs),
    )


@pytest.fixture
def emulator(tmp_path: Path):
    from vxdeploy.emulator.server import EmulatorServer

    server = EmulatorServer(tmp_path / "state", seed=7, ready_timeout_s=60).start()
    yield server
    server.stop()


@pytest.fixture
def v1(emulator) -> Clients:
    return make_clients(emulator.rest_url, "v1")


@pytest.fixture
def v1beta1(emulator) -> Clients:
    return make_clients(emulator.rest_url, "v1beta1")


@pytest.fixture
def admin(emulator):
    from vxdeploy.emulator.client import EmulatorAdmin

    return EmulatorAdmin(emulator.rest_url)


def echo_model(
    types: Any,
    *,
    display_name: str = "echo",
    tag: str = "",
    extra_env: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
):
    """A Model served by tests/emulator/echo_server.py through the real process runtime.

    Its label names the test server's manifest (tests/emulator/servers/echo), as the
    bundled servers are named: the Model itself carries no command to run.
    """
    env = [types.EnvVar(name="ECHO_TAG", value=tag)]
    env += [types.EnvVar(name=k, value=v) for k, v in (extra_env or {}).items()]
    return types.Model(
        display_name=display_name,
        labels={"vxdeploy-container": "echo", **(labels or {})},
        container_spec=types.ModelContainerSpec(
            image_uri="us-docker.pkg.dev/test/echo:1",
            env=env,
            health_route="/health",
            predict_route="/predict",
        ),
    )


def upload(clients: Clients, model: Any, **request: Any) -> Any:
    """UploadModel and wait; returns the UploadModelResponse."""
    return clients.models.upload_model(
        request={"parent": PARENT, "model": model, **request}
    ).result(timeout=60)


def dedicated(
    types: Any, *, machine_type: str = "n1-standard-2", min_replicas: int = 1, **extra: Any
) -> Any:
    extra.setdefault("max_replica_count", max(min_replicas, 1))
    return types.DedicatedResources(
        machine_spec=types.MachineSpec(machine_type=machine_type),
        min_replica_count=min_replicas,
        **extra,
    )


def create_endpoint(clients: Clients, endpoint_id: str | None = None, **fields: Any) -> Any:
    request: dict[str, Any] = {
        "parent": PARENT,
        "endpoint": clients.types.Endpoint(display_name="ep", **fields),
    }
    if endpoint_id:
        request["endpoint_id"] = endpoint_id
    return clients.endpoints.create_endpoint(request=request).result(timeout=30)


def deploy(
    clients: Clients,
    endpoint: str,
    model: str,
    split: dict[str, int] | None = None,
    **resources: Any,
) -> Any:
    """DeployModel and wait; returns the DeployedModel."""
    op = clients.endpoints.deploy_model(
        endpoint=endpoint,
        deployed_model=clients.types.DeployedModel(
            model=model, dedicated_resources=dedicated(clients.types, **resources)
        ),
        traffic_split=split if split is not None else {"0": 100},
    )
    return op.result(timeout=120).deployed_model


def error_status(error: Exception) -> str:
    """The canonical status Vertex puts in the REST error body."""
    return error.response.json()["error"]["status"]


@pytest.fixture(scope="session")
def sentiment_artifacts() -> Path:
    """The example model's TorchScript artifacts (built once if missing)."""
    folder = SENTIMENT / "artifacts" / "torchscript"
    if not folder.is_dir():
        subprocess.run(
            [sys.executable, str(SENTIMENT / "make_model.py")], check=True, cwd=REPO, timeout=300
        )
    return folder


@pytest.fixture(scope="session")
def sentiment_instances() -> list[Any]:
    return json.loads((SENTIMENT / "instances.json").read_text())["instances"]
