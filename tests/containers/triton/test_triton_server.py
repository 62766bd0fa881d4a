"""The Triton container through the real tritonserver (the nvidia-pytriton wheel's binary).

One module-scoped server: the vxtriton front started by its container.toml command with
the AIP_* environment, so these requests travel front → Triton's dynamic batcher →
Python backend → vxserve handler, as in the image.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator.runtime.test_bundled_containers import _listening_addresses

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "examples" / "sentiment" / "artifacts" / "torchscript"

_SPEC = importlib.util.find_spec("pytriton")
PYTRITON = os.environ.get("VXSERVE_TRITON_PYTRITON_DIR") or (
    next(iter(_SPEC.submodule_search_locations or []), "") if _SPEC else ""
)
pytestmark = pytest.mark.skipif(
    not PYTRITON,
    reason="needs nvidia-pytriton (vxdeploy's `triton` extra) for the tritonserver binary",
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(tmp_path_factory.mktemp("cache"), {"VXSERVE_TRITON_MAX_QUEUE_DELAY_US":
                                                        "20000"})


def serve(cache: Path, settings: dict[str, str]) -> Iterator[str]:
    """Start `python -m vxtriton` on the example model; yield its URL once healthy."""
    port = _port()
    env = dict(os.environ)
    common = ROOT / "containers" / "common"
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "containers" / "triton"), str(common),
                                    env.get("PYTHONPATH", "")]),
        AIP_STORAGE_URI=str(ARTIFACTS),
        AIP_HTTP_PORT=str(port),
        AIP_PREDICT_ROUTE="/predict",
        AIP_HEALTH_ROUTE="/health",
        VXSERVE_CACHE_DIR=str(cache),
        **settings,
    )
    proc = subprocess.Popen([sys.executable, "-m", "vxtriton"], env=env,
                            cwd=ROOT / "containers" / "triton")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, "vxtriton exited before it was ready"
            try:
                if _call(base + "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("vxtriton not ready within 180s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_predicts_vertex_format_through_triton(server: str) -> None:
    status, body = _call(server + "/predict", {"instances": [[1, 2, 3], [4, 5, 6]]})
    assert status == 200, body
    predictions = json.loads(body)["predictions"]
    assert len(predictions) == 2
    assert {p["label"] for p in predictions} <= {"negative", "neutral", "positive"}


def test_bad_value_is_400_with_tritons_message(server: str) -> None:
    status, body = _call(server + "/predict", {"instances": [[1, 2, 99999999]]})
    assert status == 400
    assert "values must lie in [0, 19999]" in json.loads(body)["error"]


def test_whole_floats_reach_an_integer_input(server: str) -> None:
    """Vertex's GAPIC clients send every number as a float (protobuf Value): 3 is 3.0."""
    status, body = _call(server + "/predict", {"instances": [[1.0, 2.0, 3.0]]})
    assert status == 200, body
    assert len(json.loads(body)["predictions"]) == 1


def test_fraction_for_an_integer_input_is_400(server: str) -> None:
    status, body = _call(server + "/predict", {"instances": [[1, 2.5]]})
    assert status == 400
    assert json.loads(body)["error"] == "instance 0: INT64 input takes whole numbers, got 2.5"


def test_an_integer_out_of_the_inputs_range_is_400_not_tritons_500(server: str) -> None:
    """Triton answers 500 when its JSON parser meets an integer its input type cannot hold."""
    status, body = _call(server + "/predict", {"instances": [[1, 2**70]]})
    assert status == 400, body
    assert json.loads(body)["error"] == (
        "instance 0: INT64 input takes values in [-9223372036854775808, 9223372036854775807], "
        f"got {2**70}"
    )


def test_instances_of_different_lengths_answer_in_order(server: str) -> None:
    body = {"instances": [[1, 2, 3], [4, 5], [1, 2, 3], [9]]}
    status, answer = _call(server + "/predict", body)
    assert status == 200, answer
    predictions = json.loads(answer)["predictions"]
    assert len(predictions) == 4
    assert predictions[0] == predictions[2]  # same instance, same answer


def test_bad_instance_is_named_by_its_place_in_the_request(server: str) -> None:
    body = {"instances": [[1, 2, 3], [4, 5], [6, 7, 99999999]]}
    status, answer = _call(server + "/predict", body)
    assert status == 400
    error = json.loads(answer)["error"]
    assert "instance 2" in error and "values must lie in [0, 19999]" in error


def test_ragged_instance_is_400(server: str) -> None:
    status, body = _call(server + "/predict", {"instances": [[1, [2]]]})
    assert status == 400
    assert "instance 0" in json.loads(body)["error"]


def test_tritons_metrics_show_batched_executions(server: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: _call(server + "/predict", {"instances": [[7, 8, 9]]}), range(16)))
    status, body = _call(server + "/metrics")
    assert status == 200
    text = body.decode()
    values = {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("nv_inference_") and 'model="model"' in line}
    assert "nv_inference_queue_duration_us" in values
    assert "nv_inference_compute_infer_duration_us" in values
    # dynamic batching: fewer model executions than inference requests
    assert values["nv_inference_exec_count"] < values["nv_inference_count"]


def test_emulator_process_runtime_runs_triton(tmp_path: Path) -> None:
    """container = "triton" in the emulator: containers/triton/container.toml is what runs."""
    from vxdeploy.emulator.runtime import ModelServerSpec, start_model_server

    spec = ModelServerSpec(
        key="1001/triton", container="triton", image_uri="",
        env={"AIP_STORAGE_URI": str(ARTIFACTS), "AIP_HEALTH_ROUTE": "/health",
             "AIP_PREDICT_ROUTE": "/predict", "AIP_DEPLOYED_MODEL_ID": "2002",
             "AIP_ENDPOINT_ID": "1001", "VXSERVE_CACHE_DIR": str(tmp_path / "cache"),
             "VXSERVE_TRITON_PYTRITON_DIR": str(PYTRITON)},
        health_route="/health", predict_route="/predict",
        log_path=tmp_path / "triton.log", ready_timeout_s=180,
    )
    server = start_model_server(spec)
    try:
        status, body = _call(server.base_url + "/predict", {"instances": [[1, 2, 3]]})
        assert status == 200, body
        assert len(json.loads(body)["predictions"]) == 1
        port = int(server.base_url.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"0100007F"}  # loopback only, never 0.0.0.0
    finally:
        server.stop(grace_s=15)
    assert not server.alive()
