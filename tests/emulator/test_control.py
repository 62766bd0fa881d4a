"""The daemon lifecycle: ensure_running (race-safe, fast when up), crash recovery, stop,
and `vxdeploy local up|status|logs|down` driving it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.emulator.conftest import create_endpoint, deploy, echo_model, make_clients, upload

VXDEPLOY = [sys.executable, "-c", "from vxdeploy.cli import main; main()"]


def _cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state_dir))
    return subprocess.run([*VXDEPLOY, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ensure_running_is_race_safe_fast_and_stoppable(tmp_path: Path):
    from vxdeploy.emulator import control

    state = tmp_path / "state"
    results: list[control.EmulatorInfo] = []
    threads = [threading.Thread(target=lambda: results.append(control.ensure_running(state)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    try:
        assert len(results) == 3
        assert len({info.pid for info in results}) == 1  # one daemon for three callers
        info = results[0]
        assert info.rest_url.startswith("http://127.0.0.1:") and info.state_dir == state
        assert info.grpc_target and info.grpc_target.startswith("127.0.0.1:")
        # A running daemon is found, not started again (speed is bench/'s business, not a
        # wall-clock assertion's on a shared machine).
        assert control.ensure_running(state).pid == info.pid
    finally:
        assert control.stop(state) is True
    assert control.read_info(state) is None
    assert control.stop(state) is False


def test_local_cli_lifecycle_and_crash_recovery(tmp_path: Path):
    from vxdeploy.emulator import control

    state = tmp_path / "state"
    stopped = json.loads(_cli("local", "status", "-o", "json", state_dir=state).stdout)
    assert stopped["running"] is False and stopped["state_dir"] == str(state)

    up = _cli("local", "up", "-o", "json", state_dir=state)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert info["ready_s"] > 0 and info["rest_url"].startswith("http://127.0.0.1:")
    try:
        v1 = make_clients(info["rest_url"])
        model = upload(v1, echo_model(v1.types)).model
        endpoint = create_endpoint(v1, "daemon").name
        dm = deploy(v1, endpoint, model)

        status = json.loads(_cli("local", "status", "-o", "json", state_dir=state).stdout)
        assert status["running"] is True
        assert {k: status[k] for k in ("rest_url", "grpc_target", "state_dir", "pid")} == \
            {k: info[k] for k in ("rest_url", "grpc_target", "state_dir", "pid")}
        (server,) = status["servers"]
        assert server["deployed_model_id"] == dm.id
        server_pid = server["replicas"][0]["pid"]

        logs = _cli("local", "logs", dm.id, state_dir=state)
        assert logs.returncode == 0 and "echo server on" in logs.stdout
        missing = _cli("local", "logs", "424242", state_dir=state)
        assert missing.returncode == 3
        assert "known: " + dm.id in " ".join(missing.stderr.split())

        os.kill(info["pid"], signal.SIGKILL)  # the daemon crashes
        deadline = time.monotonic() + 10
        while _alive(info["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        restarted = control.ensure_running(state)
        assert restarted.pid != info["pid"]
        v1 = make_clients(restarted.rest_url)
        assert v1.predictions.predict(endpoint=endpoint, instances=[1]).deployed_model_id == dm.id
        assert _alive(server_pid)  # the model server outlived the crash and was adopted
    finally:
        down = _cli("local", "down", "-o", "json", state_dir=state)
    assert json.loads(down.stdout)["stopped"] is True
    deadline = time.monotonic() + 15
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server_pid), "local down left a model server running"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1"])
def test_binds_loopback_only(tmp_path: Path, host: str):
    from vxdeploy.emulator.server import EmulatorServer

    with pytest.raises(ValueError, match="loopback only"):
        EmulatorServer(tmp_path, host=host)


def test_restarted_daemon_is_ready_only_once_its_models_serve(tmp_path: Path):
    """After `local down`, the next command's daemon restores the deployed models before it
    reports ready: the first predict is answered, not UNAVAILABLE (no client retry here)."""
    from vxdeploy.emulator import control

    state = tmp_path / "state"
    info = control.ensure_running(state)
    try:
        v1 = make_clients(info.rest_url)
        slow = echo_model(v1.types, extra_env={"ECHO_START_DELAY_S": "2"})
        model = upload(v1, slow).model
        endpoint = create_endpoint(v1, "ready").name
        dm = deploy(v1, endpoint, model)
        assert control.stop(state) is True
        restarted = control.ensure_running(state)
        v1 = make_clients(restarted.rest_url)
        answer = v1.predictions.predict(endpoint=endpoint, instances=[1], retry=None)
        assert answer.deployed_model_id == dm.id
    finally:
        control.stop(state)
