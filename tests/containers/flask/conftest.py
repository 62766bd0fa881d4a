"""Fixtures for the flask container's server tests: example artifacts and server lifecycles."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import server as srv

# Tests import vxserve (errors, config), as the server does under the emulator's PYTHONPATH.
if str(srv.COMMON) not in sys.path:
    sys.path.insert(0, str(srv.COMMON))


@pytest.fixture(scope="session")
def sentiment() -> Path:
    return srv.sentiment_artifacts()


@pytest.fixture(scope="session")
def instances() -> list[list[int]]:
    return json.loads((srv.SENTIMENT / "instances.json").read_text())["instances"]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Start servers that are stopped (and their logs shown on failure) after the test."""
    started: list[srv.FlaskServer] = []

    def start(artifacts: Path, **env: str) -> srv.FlaskServer:
        server = srv.start(artifacts, tmp_path, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
