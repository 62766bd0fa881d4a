"""The process runtime against a real (tiny) server process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from vxdeploy.emulator.runtime import (
    ModelServerSpec,
    ModelServerStartError,
    adopt,
    start_model_server,
)


def _spec(root: Path, tmp_path: Path, **overrides: object) -> ModelServerSpec:
    values: dict[str, object] = {
        "key": "123/456",
        "container": "flask",
        "image_uri": "",
        "env": {
            "AIP_MODEL_NAME": "sentiment",
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_PREDICT_ROUTE": "/predict",
        },
        "health_route": "/health",
        "predict_route": "/predict",
        "log_path": tmp_path / "logs" / "server.log",
        "containers_dir": root,
        "ready_timeout_s": 20,
    }
    values.update(overrides)
    return ModelServerSpec(**values)  # type: ignore[arg-type]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _pid_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_starts_serves_and_stops(tiny_containers: Path, tmp_path: Path) -> None:
    spec = _spec(tiny_containers, tmp_path)
    server = start_model_server(spec)
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.alive()
        assert server.pid is not None and server.container_id is None
        answer = _post(server.base_url + "/predict", {"instances": [[1, 2], [3, 4]]})
        assert answer["predictions"] == [3, 7]
        assert answer["model"] == "sentiment"  # the spec's env reached the server
        assert answer["cwd"] == str(tiny_containers / "flask")
        assert "listening on" in server.log_tail()
    finally:
        server.stop(grace_s=5)
    assert not server.alive()
    assert not _pid_running(server.pid)
    server.stop()  # idempotent


def test_pythonpath_has_container_and_common(tiny_containers: Path, tmp_path: Path) -> None:
    manifest = tiny_containers / "flask" / "container.toml"
    manifest.write_text(
        manifest.read_text().replace(
            '"{container}/tiny_server.py"',
            '"-c", "import os, runpy, tinyhelper; os.environ[\'TINY_HELPER\'] = tinyhelper.VALUE;'
            " runpy.run_path('tiny_server.py', run_name='__main__')\"",
        )
    )
    server = start_model_server(_spec(tiny_containers, tmp_path))
    try:
        with urllib.request.urlopen(server.base_url + "/health", timeout=5) as response:
            assert json.loads(response.read())["helper"] == "from-common"
    finally:
        server.stop(grace_s=5)


def test_waits_for_a_slow_model_load(tiny_containers: Path, tmp_path: Path) -> None:
    spec = _spec(tiny_containers, tmp_path, env={"TINY_READY_AFTER_S": "0.8"})
    began = time.monotonic()
    server = start_model_server(spec)
    try:
        assert time.monotonic() - began >= 0.8
        assert "503" in server.log_tail(200)  # it really was asked while still loading
    finally:
        server.stop(grace_s=5)


def test_crash_fails_fast_with_the_log(tiny_containers: Path, tmp_path: Path) -> None:
    spec = _spec(tiny_containers, tmp_path, env={"TINY_MODE": "crash"}, ready_timeout_s=60)
    began = time.monotonic()
    with pytest.raises(ModelServerStartError) as caught:
        start_model_server(spec)
    assert time.monotonic() - began < 10  # not the whole ready timeout
    assert "exited with code 3" in str(caught.value)
    assert "model file missing" in caught.value.log_tail


def test_never_healthy_times_out_and_cleans_up(tiny_containers: Path, tmp_path: Path) -> None:
    spec = _spec(tiny_containers, tmp_path, env={"TINY_MODE": "never_ready"}, ready_timeout_s=1)
    with pytest.raises(ModelServerStartError) as caught:
        start_model_server(spec)
    assert "not healthy after 1s" in str(caught.value)
    assert "HTTP 503" in str(caught.value)
    port = int(caught.value.log_tail.split("listening on ")[1].split()[0])
    with pytest.raises(OSError):  # the process was stopped, nothing listens any more
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_stop_kills_the_whole_process_group(tiny_containers: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    env = {"TINY_MODE": "child", "TINY_CHILD_PID_FILE": str(pid_file)}
    server = start_model_server(_spec(tiny_containers, tmp_path, env=env))
    child = int(pid_file.read_text())
    assert _pid_running(child)
    server.stop(grace_s=5)
    deadline = time.monotonic() + 5
    while _pid_running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_running(child)


def test_stop_escalates_to_sigkill(tiny_containers: Path, tmp_path: Path) -> None:
    server = start_model_server(_spec(tiny_containers, tmp_path, env={"TINY_MODE": "ignore_term"}))
    began = time.monotonic()
    server.stop(grace_s=0.5)
    assert time.monotonic() - began >= 0.5  # SIGTERM had its grace period first
    assert not server.alive()
    assert server.exit_code() == -signal.SIGKILL  # then SIGKILL ended it
    assert "ignoring SIGTERM" in server.log_tail()


def test_adopt_from_info(tiny_containers: Path, tmp_path: Path) -> None:
    server = start_model_server(_spec(tiny_containers, tmp_path))
    try:
        info = json.loads(json.dumps(server.info()))  # survives a trip through a state file
        again = adopt(info)
        assert again.alive() and again.base_url == server.base_url and again.pid == server.pid
        again.stop(grace_s=5)
        assert not server.alive()
        assert not again.alive()
    finally:
        server.stop(grace_s=1)


def test_adopt_does_not_trust_a_reused_pid(tiny_containers: Path, tmp_path: Path) -> None:
    info = {
        "runtime": "process",
        "key": "k",
        "base_url": "http://127.0.0.1:1",
        "log_path": str(tmp_path / "x.log"),
        "pid": os.getpid(),
        "start_time": "1",
    }
    stale = adopt(info)
    assert not stale.alive()
    stale.stop()  # must not signal this test process's group
    with pytest.raises(ValueError, match="allowed: process, docker"):
        adopt({**info, "runtime": "vm"})


def test_missing_manifest_names_the_file_and_the_known_ones(
    tiny_containers: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelServerStartError) as caught:
        start_model_server(_spec(tiny_containers, tmp_path, container="torchserve"))
    message = str(caught.value)
    assert str(tiny_containers / "torchserve" / "container.toml") in message
    assert "with a manifest" in message and "flask" in message


def test_env_var_selects_the_containers_dir(
    tiny_containers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VXDEPLOY_CONTAINERS_DIR", str(tiny_containers))
    server = start_model_server(_spec(tiny_containers, tmp_path, containers_dir=None))
    try:
        # The tiny server reports its working directory: the env var's tree, not the bundled one.
        answer = _post(server.base_url + "/predict", {"instances": [[1, 2]]})
        assert answer["cwd"] == str(tiny_containers / "flask")
    finally:
        server.stop(grace_s=5)


def test_bad_manifest_and_bad_spec(tiny_containers: Path, tmp_path: Path) -> None:
    (tiny_containers / "flask" / "container.toml").write_text("[process]\ncommand = 'x'\n")
    with pytest.raises(ModelServerStartError, match=r"\[process\] command must be"):
        start_model_server(_spec(tiny_containers, tmp_path))
    with pytest.raises(ValueError, match="runtime 'vm' is not one of process, docker"):
        _spec(tiny_containers, tmp_path, runtime="vm")
    with pytest.raises(ValueError, match="health_route 'health' must start with '/'"):
        _spec(tiny_containers, tmp_path, health_route="health")


def test_custom_container_never_runs_as_a_process(tiny_containers: Path, tmp_path: Path) -> None:
    """A user's container command comes from an API call: never run it on the host."""
    marker = tmp_path / "ran"
    with pytest.raises(ValueError, match="runs only in Docker"):
        _spec(tiny_containers, tmp_path, container="custom",
              command=["/bin/sh", "-c", f"touch {marker}"])
    spec = _spec(tiny_containers, tmp_path, container="custom", runtime="docker",
                 command=["/bin/sh", "-c", f"touch {marker}"])
    spec.runtime = "process"  # even a spec forced past its checks is refused
    with pytest.raises(ModelServerStartError, match="never run as a process"):
        start_model_server(spec)
    assert not marker.exists()


def test_server_gets_only_the_vertex_environment_and_binds_loopback(
    tiny_containers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read the real server's /proc/PID/environ: a secret of the launching shell is not
    there; the AIP_* variables, the model's env and what the runtime needs are."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leaked-secret")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/home/me/key.json")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")
    env = {"AIP_MODEL_NAME": "sentiment", "AIP_HEALTH_ROUTE": "/health",
           "AIP_PREDICT_ROUTE": "/predict", "MODEL_OWN": "yes"}
    server = start_model_server(_spec(tiny_containers, tmp_path, env=env))
    try:
        raw = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        seen = dict(item.decode().split("=", 1) for item in raw if item)
        assert "AWS_SECRET_ACCESS_KEY" not in seen
        assert "GOOGLE_APPLICATION_CREDENTIALS" not in seen
        assert "leaked-secret" not in Path(f"/proc/{server.pid}/environ").read_text()
        assert seen["MODEL_OWN"] == "yes" and seen["AIP_MODEL_NAME"] == "sentiment"
        assert seen["OMP_NUM_THREADS"] == "2" and seen["PATH"] == os.environ["PATH"]
        assert seen["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:4443"
        assert seen["VXSERVE_HTTP_HOST"] == "127.0.0.1"
        allowed = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                   "TERM", "JAVA_HOME", "LD_LIBRARY_PATH", "OMP_NUM_THREADS",
                   "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "STORAGE_EMULATOR_HOST",
                   "PYTHONPATH", "PYTHONUNBUFFERED", "VXSERVE_HTTP_HOST", "AIP_HTTP_PORT",
                   *env}
        assert {k for k in seen if not k.startswith("LC_")} <= allowed, set(seen) - allowed
    finally:
        server.stop(grace_s=5)


def test_adopted_stop_kills_orphaned_workers(tiny_containers: Path, tmp_path: Path) -> None:
    """The leader died (e.g. gunicorn's master) and its worker lives on: stop() ends it."""
    pid_file = tmp_path / "child.pid"
    env = {"TINY_MODE": "child", "TINY_CHILD_PID_FILE": str(pid_file)}
    server = start_model_server(_spec(tiny_containers, tmp_path, env=env))
    try:
        child = int(pid_file.read_text())
        os.kill(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _pid_running(server.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        adopted = adopt(server.info())
        assert not adopted.alive()
        assert _pid_running(child)
        adopted.stop(grace_s=5)
        deadline = time.monotonic() + 5
        while _pid_running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _pid_running(child)
    finally:
        server.stop(grace_s=0)
