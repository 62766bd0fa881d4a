"""Reaching a Docker engine, and saying clearly what to do when there is none.

The `docker` library finds the engine the way the docker CLI does (DOCKER_HOST, else the
default socket). When nothing answers, the user gets one message that says how to start an
engine or where to point DOCKER_HOST, instead of a connection traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vxdeploy.errors import EngineUnavailableError

if TYPE_CHECKING:
    import docker

# Where scripts/docker/engine-up.sh puts its socket (a source checkout's private engine).
PRIVATE_ENGINE_STATE = Path(os.environ.get("VXDEPLOY_DOCKER_STATE", "/var/tmp/vxdeploy-docker"))
CONNECT_TIMEOUT_S = 10
# Builds and pushes stream for minutes; this bounds one silent read, not the whole build.
API_TIMEOUT_S = 600


def engine_hint() -> str:
    """How to get an engine, mentioning the private one when its socket exists here."""
    private = PRIVATE_ENGINE_STATE / "docker.sock"
    hint = ("start Docker (`sudo systemctl start docker`, or Docker Desktop), or point "
            "DOCKER_HOST at a running engine, e.g. DOCKER_HOST=unix:///path/to/docker.sock "
            "or DOCKER_HOST=tcp://HOST:2375; in a vxdeploy checkout `make docker-up` starts a "
            f"private engine at unix://{private}")
    if private.exists():
        hint += f" (its socket exists: export DOCKER_HOST=unix://{private})"
    return hint


def connect(timeout_s: float = API_TIMEOUT_S) -> docker.DockerClient:
    """A client for the engine named by the environment, checked with a ping."""
    import docker
    from docker.errors import DockerException

    where = os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    try:
        client = docker.from_env(timeout=CONNECT_TIMEOUT_S)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailableError(
            f"no Docker engine reachable at {where}: {_short(exc)}", hint=engine_hint()) from None
    except Exception as exc:  # requests' connection errors on odd DOCKER_HOST values
        raise EngineUnavailableError(
            f"no Docker engine reachable at {where}: {_short(exc)}", hint=engine_hint()) from None
    client.api.timeout = timeout_s
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
