"""No engine: one clear error (exit code 8) that says how to start one or set DOCKER_HOST."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vxdeploy.build.engine import connect
from vxdeploy.errors import EngineUnavailableError, ExitCode

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dead_socket(tmp_path: Path) -> str:
    """A unix socket path nothing listens on (bound once, then closed)."""
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return f"unix://{path}"


def test_connect_without_engine_explains_what_to_do(monkeypatch, dead_socket):
    monkeypatch.setenv("DOCKER_HOST", dead_socket)
    with pytest.raises(EngineUnavailableError) as caught:
        connect()
    assert dead_socket in caught.value.message
    assert "DOCKER_HOST" in caught.value.hint and "make docker-up" in caught.value.hint
    assert caught.value.exit_code == ExitCode.ENGINE_UNAVAILABLE


def test_tcp_engine_that_refuses(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    with pytest.raises(EngineUnavailableError, match=f"127.0.0.1:{port}"):
        connect()


def test_cli_build_without_engine_exits_8_with_a_json_error(tmp_path, dead_socket):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_HOST": dead_socket}
    proc = subprocess.run(
        [sys.executable, "-c", "from vxdeploy.cli import main; main()", "build",
         "--profile", "local", "--output", "json", "--profiles-dir", str(REPO / "profiles")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == ExitCode.ENGINE_UNAVAILABLE, proc.stderr
    body = json.loads(proc.stdout)
    assert body["error"] == "EngineUnavailableError"
    assert dead_socket in body["message"] and "DOCKER_HOST" in body["hint"]
