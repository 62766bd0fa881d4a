"""Start-up failures: bad settings exit at once, bad artifacts leave health 503 with the
reason (like every vxserve server), a taken port says so. None of these reach the JVM."""

from __future__ import annotations

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
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        done = run_module({"AIP_HTTP_PORT": str(taken.getsockname()[1])}, tmp_path)
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
