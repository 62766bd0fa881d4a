"""Start-up failures: bad settings exit at once, bad artifacts leave health 503 with the
reason (like every vxserve server), a taken port says so. None of these reach the JVM."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..serverproc import CONTAINERS, start


def run_module(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {"PYTHONPATH": f"{CONTAINERS / 'torchserve'}:{CONTAINERS / 'common'}",
            "PATH": "/usr/bin:/bin", **env}
    return subprocess.run([sys.executable, "-m", "vxts"], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    done = run_module({"VXSERVE_TS_WORKERS": "0", "AIP_HTTP_PORT": "0"}, tmp_path)
    assert done.returncode == 2
    assert "VXSERVE_TS_WORKERS=0 must be >= 1" in done.stderr


def test_taken_port_exits_1_saying_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run_module({"AIP_HTTP_PORT": str(taken.getsockname()[1]),
                           "VXSERVE_HTTP_HOST": "127.0.0.1"}, tmp_path)
    assert done.returncode == 1
    assert "Address already in use" in done.stderr


def test_missing_artifacts_leave_health_503_with_the_reason(tmp_path: Path) -> None:
    server = start("torchserve", {"AIP_STORAGE_URI": str(tmp_path / "nowhere")},
                   tmp_path / "server.log")
    try:
        deadline = time.monotonic() + 60
        body: dict = {}
        while time.monotonic() < deadline:
            try:
                response = httpx.get(server.url + "/health", timeout=2)
                body = response.json()
                if body.get("status") == "failed":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert response.status_code == 503
        assert body["status"] == "failed"
        assert "does not exist" in body["error"] and "nowhere" in body["error"]
        assert server.proc.poll() is None  # still up, so the reason stays visible
        predict = httpx.post(server.url + "/predict", json={"instances": [[1]]}, timeout=5)
        assert predict.status_code == 503
    finally:
        assert server.terminate(timeout_s=30) in (0, -15)


def test_model_that_fails_to_load_fails_the_start_with_its_traceback(tmp_path: Path) -> None:
    """The worker's load raises: TorchServe alone would retry it forever and log only
    "Worker died."; health turns `failed` with the cause well before the ready timeout
    (10 minutes here), and the log holds the worker's traceback."""
    from ..serverproc import ensure_example_artifacts

    good = ensure_example_artifacts() / "torchscript"
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("vxserve.json", "index_to_name.json"):
        (broken / name).write_bytes((good / name).read_bytes())
    (broken / "model.pt").write_bytes((good / "model.pt").read_bytes()[:100_000])
    server = start("torchserve", {"AIP_STORAGE_URI": str(broken),
                                  "VXSERVE_TS_READY_TIMEOUT_S": "600"}, tmp_path / "server.log")
    try:
        deadline = time.monotonic() + 120
        body: dict = {}
        while time.monotonic() < deadline and body.get("status") != "failed":
            assert server.proc.poll() is None, server.log()
            with contextlib.suppress(httpx.TransportError):
                body = httpx.get(server.url + "/health", timeout=2).json()
            time.sleep(0.2)
        assert body.get("status") == "failed", server.log()
        assert "failed to load in a TorchServe worker" in body["error"]
        assert "PytorchStreamReader" in body["error"]  # the exception itself, not "died"
        log = server.log_path.read_text(errors="replace")
        assert "Traceback (most recent call last)" in log and "torch.jit.load" in log
    finally:
        assert server.terminate(timeout_s=30) in (0, -15)
