"""Finding the Docker engine the docker-marked tests use, the way `make test` provides it.

`scripts/docker/up.sh` starts a private engine, a registry and a base image and writes
their addresses to `$VXDEPLOY_DOCKER_STATE/env`; `VXDEPLOY_TEST_DOCKER_HOST` (with
`VXDEPLOY_TEST_REGISTRY` and `VXDEPLOY_TEST_BASE_IMAGE`) in the environment wins over the
file. No engine: tests skip with the reason — or fail where `VXDEPLOY_TEST_REQUIRE_DOCKER=1`
(set by up.sh once an engine did start), so CI cannot silently lose them.
"""

from __future__ import annotations

import os
import shlex
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
    required: bool


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


def settings() -> dict[str, str]:
    if os.environ.get("VXDEPLOY_TEST_DOCKER_HOST"):
        return {k: v for k, v in os.environ.items() if k.startswith("VXDEPLOY_TEST_")}
    return {**_env_file(), **{k: v for k, v in os.environ.items()
                              if k == "VXDEPLOY_TEST_REQUIRE_DOCKER"}}


def unavailable(reason: str, required: bool) -> None:
    if required:
        pytest.fail(f"Docker engine required but unusable: {reason}")
    pytest.skip(f"no Docker engine: {reason} ({HOW})")


def find_engine() -> Engine:
    """The reachable engine, else skip (or fail where one is required)."""
    values = settings()
    required = values.get("VXDEPLOY_TEST_REQUIRE_DOCKER") == "1"
    if values.get("VXDEPLOY_TEST_DOCKER_UNAVAILABLE"):
        unavailable(values["VXDEPLOY_TEST_DOCKER_UNAVAILABLE"], required)
    host = values.get("VXDEPLOY_TEST_DOCKER_HOST", "")
    if not host:
        unavailable(f"VXDEPLOY_TEST_DOCKER_HOST not set and no env file at {ENV_FILE}", required)
    import docker

    try:
        docker.DockerClient(base_url=host, timeout=10).ping()
    except Exception as exc:
        unavailable(f"{host} does not answer ({exc})", required)
    return Engine(host, values.get("VXDEPLOY_TEST_REGISTRY") or None,
                  values.get("VXDEPLOY_TEST_BASE_IMAGE") or None, required)
