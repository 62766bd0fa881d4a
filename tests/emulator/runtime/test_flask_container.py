"""The process runtime running the real bundled Flask server with the example model."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from vxdeploy.emulator.runtime import ModelServerSpec, start_model_server
from vxdeploy.paths import containers_dir

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "examples" / "sentiment" / "artifacts" / "torchscript"
INSTANCES = REPO / "examples" / "sentiment" / "instances.json"

pytestmark = pytest.mark.slow


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def test_flask_server_serves_the_example_model(tmp_path: Path) -> None:
    if not (containers_dir() / "flask" / "container.toml").is_file():
        pytest.skip("containers/flask/container.toml is not there")
    if not (ARTIFACTS / "model.pt").is_file():
        pytest.skip(f"no example model at {ARTIFACTS}: run `make example`")
    spec = ModelServerSpec(
        key="1001/2002",
        container="flask",
        image_uri="",
        env={
            "AIP_STORAGE_URI": str(ARTIFACTS),
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_PREDICT_ROUTE": "/predict",
            "AIP_DEPLOYED_MODEL_ID": "2002",
            "AIP_ENDPOINT_ID": "1001",
            "VXSERVE_TORCH_THREADS": "1",
            "VXSERVE_HTTP_THREADS": "4",
        },
        health_route="/health",
        predict_route="/predict",
        log_path=tmp_path / "flask.log",
        ready_timeout_s=120,
    )
    began = time.monotonic()
    server = start_model_server(spec)
    ready_s = time.monotonic() - began
    try:
        body = INSTANCES.read_bytes()
        request = urllib.request.Request(
            server.base_url + "/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert len(answer["predictions"]) == len(json.loads(body)["instances"])
        print(f"flask server healthy after {ready_s:.1f}s")
    finally:
        server.stop(grace_s=10)
    assert not server.alive()
    assert server.pid is not None and not _group_alive(server.pid)  # gunicorn worker too
