"""The Docker engine the `docker`-marked tests use, found the way CI provides it.

`make test` runs `scripts/docker/up.sh` first: it starts a private engine and registry, makes
the base image and writes `$VXDEPLOY_DOCKER_STATE/env` (default /var/tmp/vxdeploy-docker/env).
Lookup order: VXDEPLOY_TEST_DOCKER_HOST (with VXDEPLOY_TEST_REGISTRY and
VXDEPLOY_TEST_BASE_IMAGE) from the environment, then that env file. No engine: the tests
skip with the reason — unless VXDEPLOY_TEST_REQUIRE_DOCKER=1 (set by up.sh when it
succeeded), where a vanished engine is a failure, not a silent skip.
"""

from __future__ import annotations

import os
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV_FILE = Path(os.environ.get("VXDEPLOY_DOCKER_STATE", "/var/tmp/vxdeploy-docker")) / "env"
HOW = "run `make docker-up` (scripts/docker/up.sh) or set VXDEPLOY_TEST_DOCKER_HOST"


@dataclass(frozen=True)
class Engine:
    host: str
    registry: str | None
    base_image: str | None


def _env_file() -> dict[str, str]:
    if not ENV_FILE.is_file():
        return {}
    values: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            parsed = shlex.split(value)
            values[key.strip()] = parsed[0] if parsed else ""
    return values


def _settings() -> dict[str, str]:
    if os.environ.get("VXDEPLOY_TEST_DOCKER_HOST"):
        return {k: v for k, v in os.environ.items() if k.startswith("VXDEPLOY_TEST_")}
    return {**_env_file(), **{k: v for k, v in os.environ.items()
                              if k == "VXDEPLOY_TEST_REQUIRE_DOCKER"}}


def _unavailable(reason: str, settings: dict[str, str]) -> None:
    if settings.get("VXDEPLOY_TEST_REQUIRE_DOCKER") == "1":
        pytest.fail(f"Docker engine required but unusable: {reason}")
    pytest.skip(f"no Docker engine: {reason} ({HOW})")


@pytest.fixture(scope="session")
def engine() -> Engine:
    settings = _settings()
    if settings.get("VXDEPLOY_TEST_DOCKER_UNAVAILABLE"):
        _unavailable(settings["VXDEPLOY_TEST_DOCKER_UNAVAILABLE"], settings)
    host = settings.get("VXDEPLOY_TEST_DOCKER_HOST", "")
    if not host:
        _unavailable("VXDEPLOY_TEST_DOCKER_HOST not set and no env file at " + str(ENV_FILE),
                     settings)
    import docker

    try:
        docker.DockerClient(base_url=host, timeout=10).ping()
    except Exception as exc:
        _unavailable(f"{host} does not answer ({exc})", settings)
    return Engine(host, settings.get("VXDEPLOY_TEST_REGISTRY") or None,
                  settings.get("VXDEPLOY_TEST_BASE_IMAGE") or None)


@pytest.fixture
def docker_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The engine, with DOCKER_HOST pointing at it for code that calls docker.from_env()."""
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    monkeypatch.delenv("VXDEPLOY_REGISTRY", raising=False)
    return engine


@pytest.fixture
def client(docker_env: Engine) -> Iterator:
    import docker

    api = docker.DockerClient(base_url=docker_env.host, timeout=600)
    yield api
    api.close()


@pytest.fixture
def base_image(engine: Engine) -> str:
    if not engine.base_image:
        _unavailable("the base image was not made (scripts/docker/base-image.sh)", _settings())
    return engine.base_image


@pytest.fixture
def registry(engine: Engine) -> str:
    if not engine.registry:
        _unavailable("no local registry (scripts/docker/registry-up.sh)", _settings())
    return engine.registry


@pytest.fixture
def unique() -> str:
    """A token that makes this run's inputs (and so its tags) new."""
    return uuid.uuid4().hex[:12]
