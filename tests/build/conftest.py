"""The Docker engine the `docker`-marked tests use, found the way CI provides it.

`make test` runs `scripts/docker/up.sh` first: it starts a private engine and registry, makes
the base image and writes `$VXDEPLOY_DOCKER_STATE/env` (default /var/tmp/vxdeploy-docker/env).
Lookup order: VXDEPLOY_TEST_DOCKER_HOST (with VXDEPLOY_TEST_REGISTRY and
VXDEPLOY_TEST_BASE_IMAGE) from the environment, then that env file. No engine: the tests
skip with the reason — unless VXDEPLOY_TEST_REQUIRE_DOCKER=1 (set by up.sh when it
succeeded), where a vanished engine is a failure, not a silent skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.docker_engine import Engine, find_engine, settings, unavailable


@pytest.fixture(scope="session")
def engine() -> Engine:
    return find_engine()


def _unavailable(reason: str, settings: dict[str, str]) -> None:
    unavailable(reason, settings.get("VXDEPLOY_TEST_REQUIRE_DOCKER") == "1")


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
        _unavailable("the base image was not made (scripts/docker/base-image.sh)", settings())
    return engine.base_image


@pytest.fixture
def registry(engine: Engine) -> str:
    if not engine.registry:
        _unavailable("no local registry (scripts/docker/registry-up.sh)", settings())
    return engine.registry


@pytest.fixture
def unique() -> str:
    """A token that makes this run's inputs (and so its tags) new."""
    return uuid.uuid4().hex[:12]
