"""Nothing orphaned: a daemon killed (SIGKILL) while a DeployModel is starting a model server
leaves no server behind once it is restarted or `vxdeploy local down` runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.emulator.conftest import create_endpoint, dedicated, echo_model, make_clients, upload

VXDEPLOY = [sys.executable, "-m", "vxdeploy"]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _tagged(tag: str) -> list[int]:
    """Pids of live processes whose environment carries ECHO_TAG=tag."""
    needle = f"ECHO_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0") and _alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(what)
        time.sleep(0.05)


def _kill_daemon_while_a_server_starts(state: Path) -> tuple[str, int]:
    """Start the daemon, begin a deploy whose server takes a while to listen, SIGKILL the
    daemon while that server is still starting; returns (tag, the server's pid)."""
    from vxdeploy.emulator import control

    info = control.ensure_running(state)
    v1 = make_clients(info.rest_url)
    tag = uuid.uuid4().hex
    model = upload(v1, echo_model(v1.types, tag=tag,
                                  extra_env={"ECHO_START_DELAY_S": "30"})).model
    endpoint = create_endpoint(v1).name
    v1.endpoints.deploy_model(
        endpoint=endpoint,
        deployed_model=v1.types.DeployedModel(model=model,
                                              dedicated_resources=dedicated(v1.types)),
        traffic_split={"0": 100})
    _wait(lambda: _tagged(tag), 30, "the model server never started")
    (server_pid,) = _tagged(tag)
    os.kill(info.pid, signal.SIGKILL)
    _wait(lambda: not _alive(info.pid), 10, "the daemon did not die")
    assert _alive(server_pid)  # the half-started server outlived its emulator
    return tag, server_pid


def _down(state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state))
    return subprocess.run([*VXDEPLOY, "local", "down"], env=env, capture_output=True,
                          text=True, timeout=120)


def test_local_down_stops_a_server_whose_daemon_was_killed_while_starting_it(tmp_path: Path):
    state = tmp_path / "state"
    tag, _pid = _kill_daemon_while_a_server_starts(state)
    try:
        down = _down(state)
        assert down.returncode == 0, down.stderr
        assert _tagged(tag) == [], "local down left a model server running"
    finally:
        for pid in _tagged(tag):
            os.kill(pid, signal.SIGKILL)


def test_restarted_daemon_stops_the_server_its_predecessor_was_starting(tmp_path: Path):
    from vxdeploy.emulator import control

    state = tmp_path / "state"
    tag, server_pid = _kill_daemon_while_a_server_starts(state)
    try:
        restarted = control.ensure_running(state)
        # Ready means restored: the stray was stopped before the daemon answered.
        _wait(lambda: not _alive(server_pid), 2, "the restarted emulator kept a stray server")
        v1 = make_clients(restarted.rest_url)
        (endpoint,) = v1.endpoints.list_endpoints(parent="projects/test-project/locations/"
                                                  "us-central1")
        assert list(endpoint.deployed_models) == []  # the interrupted deploy did not happen
    finally:
        down = _down(state)
        for pid in _tagged(tag):
            os.kill(pid, signal.SIGKILL)
    assert down.returncode == 0, down.stderr
    assert _tagged(tag) == []


def _owned_by(state: Path) -> dict[int, str]:
    """Live processes marked as model servers of `state`: pid -> command line."""
    from vxdeploy.emulator.ownership import owned_processes

    out = {}
    for process in owned_processes(state):
        try:
            out[process.pid] = Path(f"/proc/{process.pid}/cmdline").read_bytes().replace(
                b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return out


@pytest.mark.slow
def test_local_down_after_a_crash_stops_torchserve_and_its_jvm(tmp_path: Path):
    """TorchServe's JVM runs in a session of its own: `local down` after the daemon was
    killed still leaves no process of the state folder (front, JVM, Python worker)."""
    from tests.conftest import PROFILES, SENTIMENT_ARTIFACTS

    assert (SENTIMENT_ARTIFACTS / "torchscript").is_dir(), "run `make example` first"
    state = tmp_path / "state"
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state),
               VXDEPLOY_PROFILES_DIR=str(PROFILES))
    try:
        deploy = subprocess.run(
            [*VXDEPLOY, "deploy", "-p", "local", "--yes", "--set=endpoint.name=ts-down",
             "--set=model.container=torchserve"], env=env, capture_output=True, text=True,
            timeout=300)
        assert deploy.returncode == 0, deploy.stderr
        running = _owned_by(state)
        assert any("java" in cmd for cmd in running.values()), running
        os.kill(int(json.loads((state / "emulator.json").read_text())["pid"]), signal.SIGKILL)
        down = _down(state)
        assert down.returncode == 0, down.stderr
        assert _owned_by(state) == {}
    finally:
        for pid in _owned_by(state):
            os.kill(pid, signal.SIGKILL)
