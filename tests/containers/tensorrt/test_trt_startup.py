"""Start-up failures: bad settings exit at once; missing artifacts, or TensorRT asked for
where there is none, leave health 503 with the reason."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from vxtrt.backends import tensorrt as trt_backend

from ..serverproc import CONTAINERS, ServerProc, ensure_example_artifacts, start


def failed_health(server: ServerProc) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            response = httpx.get(server.url + "/health", timeout=2)
            if response.json().get("status") == "failed":
                assert response.status_code == 503
                return response.json()
        except httpx.TransportError:
            pass
        assert server.proc.poll() is None, server.log()
        time.sleep(0.1)
    raise AssertionError(f"health never reported the failure:\n{server.log()}")


def test_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = {"PYTHONPATH": f"{CONTAINERS / 'tensorrt'}:{CONTAINERS / 'common'}",
           "VXSERVE_TRT_BACKEND": "cuda", "AIP_HTTP_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "vxtrt"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "VXSERVE_TRT_BACKEND='cuda' is not one of: auto, tensorrt, onnxruntime" in done.stderr


def test_missing_artifacts_leave_health_503_with_the_reason(tmp_path: Path) -> None:
    server = start("tensorrt", {"AIP_STORAGE_URI": str(tmp_path / "nowhere")},
                   tmp_path / "server.log")
    try:
        body = failed_health(server)
        assert "does not exist" in body["error"]
    finally:
        server.terminate(timeout_s=30)


@pytest.mark.skipif(trt_backend.available(), reason="this machine has TensorRT and a GPU")
def test_tensorrt_asked_for_without_a_gpu_says_so(tmp_path: Path, trt_cache: Path) -> None:
    server = start("tensorrt", {
        "AIP_STORAGE_URI": str(ensure_example_artifacts() / "torchscript"),
        "VXSERVE_TRT_BACKEND": "tensorrt", "VXSERVE_TRT_CACHE_DIR": str(trt_cache),
    }, tmp_path / "server.log")
    try:
        body = failed_health(server)
        assert "VXSERVE_TRT_BACKEND=tensorrt but TensorRT or a CUDA GPU is missing" in body["error"]
    finally:
        server.terminate(timeout_s=30)
