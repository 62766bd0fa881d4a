"""The ASGI server as a real process on ONNX Runtime (the CI stand-in for TensorRT).

`main` serves the TorchScript example (ONNX exported at start) on custom routes; `aux`
serves the torch.export example (its ONNX graph fixes length 64) through a handler that
raises CUDA's out-of-memory error on a marker token, with a small queue, and is SIGTERMed
last.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from ..serverproc import (
    LABELS,
    MARKER_HANDLER,
    OOM_MARKER,
    SLOW_MARKER,
    ServerProc,
    ensure_example_artifacts,
    start,
)

HEALTH, PREDICT = "/ready", "/v1/predict"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return ensure_example_artifacts()


@pytest.fixture(scope="module")
def servers(artifacts: Path, tmp_path_factory: pytest.TempPathFactory, trt_cache: Path):
    work = tmp_path_factory.mktemp("trt")
    aux_artifacts = work / "aux-artifacts"
    shutil.copytree(artifacts / "export", aux_artifacts)
    (aux_artifacts / "handler.py").write_text(MARKER_HANDLER)
    common = {"VXSERVE_CACHE_DIR": str(work / "cache"), "VXSERVE_TRT_CACHE_DIR": str(trt_cache),
              "VXSERVE_TRT_BACKEND": "onnxruntime", "VXSERVE_BATCHING": "on"}
    main = start("tensorrt", {
        **common,
        "AIP_STORAGE_URI": str(artifacts / "torchscript"),
        "AIP_HEALTH_ROUTE": HEALTH,
        "AIP_PREDICT_ROUTE": PREDICT,
        "VXSERVE_BATCH_SIZE": "16",
        "VXSERVE_BATCH_DELAY_MS": "20",
        "VXSERVE_MAX_BODY_BYTES": "200000",
    }, work / "main.log")
    aux = start("tensorrt", {
        **common,
        "AIP_STORAGE_URI": f"file://{aux_artifacts}",
        "VXSERVE_HANDLER": "handler.py:MarkerHandler",
        "VXSERVE_BATCH_SIZE": "4",
        "VXSERVE_MAX_QUEUE": "100",
        "VXSERVE_MAX_BODY_BYTES": str(8 * 1024 * 1024),
    }, work / "aux.log")
    try:
        with ThreadPoolExecutor(2) as pool:
            ready = list(pool.map(lambda s: s[0].wait_ready(240, s[1]),
                                  [(main, HEALTH), (aux, "/health")]))
        print(f"\ntime to ready (ONNX cached if the export tests ran first): "
              f"main {ready[0]:.2f}s, aux {ready[1]:.2f}s")
        yield main, aux
    finally:
        for server in (main, aux):
            server.terminate(timeout_s=60)


@pytest.fixture(scope="module")
def eager(artifacts: Path):
    model = torch.jit.load(str(artifacts / "torchscript" / "model.pt")).eval()

    def predict(instance: list[int]) -> list[float]:
        with torch.inference_mode():
            return torch.softmax(model(torch.tensor([instance])), dim=1)[0].tolist()

    return predict


def tokens(n: int, length: int, seed: int, first: int | None = None) -> list[list[int]]:
    rows = torch.randint(1, 19_000, (n, length), generator=torch.Generator().manual_seed(seed))
    if first is not None:
        rows[:, 0] = first
    return rows.tolist()


def post(server: ServerProc, body, route: str = "/predict") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.url + route, content=content,
                      headers={"content-type": "application/json"}, timeout=60)


def assert_matches_eager(predictions: list[dict], instances: list[list[int]], eager) -> None:
    assert len(predictions) == len(instances)
    for prediction, instance in zip(predictions, instances, strict=True):
        expected = eager(instance)
        got = [prediction["probabilities"][label] for label in LABELS]
        assert got == pytest.approx(expected, abs=1e-5)


def test_health_is_503_until_loaded_and_warm(servers) -> None:
    main, aux = servers
    for server, route in ((main, HEALTH), (aux, "/health")):
        answered = [c for c in server.health_codes if c]
        assert answered[0] == 503 and answered[-1] == 200
        body = httpx.get(server.url + route).json()
        assert body["status"] == "ready" and body["backend"] == "onnxruntime"


def test_predictions_equal_eager_pytorch(servers, eager) -> None:
    main, _ = servers
    instances = tokens(3, 64, seed=1) + tokens(2, 11, seed=2) + tokens(1, 64, seed=3)
    response = post(main, {"instances": instances}, PREDICT)
    assert response.status_code == 200, response.text
    assert_matches_eager(response.json()["predictions"], instances, eager)


BAD_BODIES = [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"inputs": [[1, 2]]}', 'no "instances"'),
    (b'{"instances": {"a": 1}}', '"instances" must be a list'),
    (b'{"instances": []}', '"instances" is empty'),
    (b'{"instances": [[1, 2]], "parameters": [1]}', '"parameters" must be an object'),
    (b'{"instances": [[[1, 2], [3, 4]]]}', "instance 0 has shape [2, 2]"),
    (b'{"instances": [[1, 2], [1.5, 2]]}', "instance 1: expected integers"),
    (b'{"instances": [["a", "b"]]}', "instance 0"),
    (b'{"instances": [[]]}', "instance 0 is empty"),
    (b'{"instances": ' + b"[" * 60_000, "nested too deeply"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_input_is_400_naming_the_problem(servers, body: bytes, message: str) -> None:
    main, _ = servers
    response = post(main, body, PREDICT)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


def test_length_the_graph_fixed_is_validated(servers) -> None:
    _, aux = servers
    response = post(aux, {"instances": tokens(1, 30, seed=5)})
    assert response.status_code == 400
    assert "instance 0 has shape [30], expected [64]" in response.json()["error"]["message"]


def test_over_limit_body_is_413(servers) -> None:
    main, _ = servers
    response = post(main, {"instances": tokens(600, 64, seed=4)}, PREDICT)
    assert response.status_code == 413
    assert "VXSERVE_MAX_BODY_BYTES" in response.json()["error"]["message"]


def test_concurrent_mixed_requests_batch_and_fail_alone(servers, eager) -> None:
    main, _ = servers
    jobs = []
    for i in range(32):
        if i % 4 == 1:
            jobs.append(("bad", {"instances": [[2.5] * 64]}))
        else:
            jobs.append(("good", {"instances": tokens(1 + i % 2, 64, seed=100 + i)}))
    before = _batch_histogram(main)
    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(lambda job: post(main, job[1], PREDICT), jobs))
    for (kind, body), response in zip(jobs, responses, strict=True):
        if kind == "good":
            assert response.status_code == 200, response.text
            assert_matches_eager(response.json()["predictions"], body["instances"], eager)
        else:
            assert response.status_code == 400
    after = _batch_histogram(main)
    passes, instances = after[0] - before[0], after[1] - before[1]
    assert instances == sum(len(b["instances"]) for k, b in jobs if k == "good")
    assert passes < instances, "no forward pass held more than one instance"


def _batch_histogram(server: ServerProc) -> tuple[float, float]:
    text = httpx.get(server.url + "/metrics").text
    values = {}
    for line in text.splitlines():
        for name in ("vxserve_batch_size_count", "vxserve_batch_size_sum"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values["vxserve_batch_size_count"], values["vxserve_batch_size_sum"]


def test_metrics_are_prometheus_text(servers) -> None:
    main, _ = servers
    response = httpx.get(main.url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert 'vxserve_requests_total{code="400"}' in response.text
    assert "vxserve_model_ready 1.0" in response.text
    assert "vxserve_batching_enabled 1.0" in response.text
    assert 'vxtrt_backend{backend="onnxruntime"} 1.0' in response.text


def test_gpu_out_of_memory_fails_only_that_request(servers, eager) -> None:
    _, aux = servers
    good = [{"instances": tokens(2, 64, seed=20 + i)} for i in range(5)]
    oom = {"instances": tokens(1, 64, seed=30, first=OOM_MARKER)}
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(post, aux, body) for body in [*good[:3], oom, *good[3:]]]
        responses = [f.result() for f in futures]
    oom_response = responses.pop(3)
    assert oom_response.status_code == 503
    assert oom_response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    for body, response in zip(good, responses, strict=True):
        assert response.status_code == 200, response.text
        # The .pt2 example holds the same weights as the TorchScript one.
        assert_matches_eager(response.json()["predictions"], body["instances"], eager)
    assert httpx.get(aux.url + "/health").status_code == 200


def test_full_queue_is_429_and_sigterm_drains(servers, eager) -> None:
    _, aux = servers
    result: dict[str, Any] = {}
    slow = {"instances": tokens(1, 64, seed=40, first=SLOW_MARKER)}

    def send(name: str, body: dict) -> None:
        result[name] = post(aux, body)
        result[name + "_at"] = time.monotonic()

    busy = threading.Thread(target=send, args=("slow", slow))
    busy.start()
    _wait_for(aux, "vxserve_inflight_requests 1.0")
    time.sleep(0.1)  # the batcher has taken it: the model is busy for 2 s
    queued = threading.Thread(target=send, args=("queued", {"instances": tokens(80, 64, seed=41)}))
    queued.start()
    _wait_for(aux, "vxserve_queue_depth 80.0")
    # 80 instances wait; 80 more would exceed VXSERVE_MAX_QUEUE=100.
    crowded = post(aux, {"instances": tokens(80, 64, seed=42)})
    assert crowded.status_code == 429, crowded.text
    assert crowded.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "VXSERVE_MAX_QUEUE=100" in crowded.json()["error"]["message"]
    sigterm_at = time.monotonic()
    code = aux.terminate(timeout_s=60, group=True)  # as the emulator stops a server
    busy.join(30)
    queued.join(30)
    # Both accepted requests were answered after SIGTERM, before the process exited.
    for name in ("slow", "queued"):
        assert result[name].status_code == 200, result[name].text
        assert result[name + "_at"] > sigterm_at, f"{name} finished before SIGTERM"
    assert_matches_eager(result["slow"].json()["predictions"], slow["instances"], eager)
    assert len(result["queued"].json()["predictions"]) == 80
    assert code in (0, -15)
    assert aux.proc.poll() is not None


def _wait_for(server: ServerProc, line: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if line in httpx.get(server.url + "/metrics").text:
            return
        time.sleep(0.01)
    raise AssertionError(f"{line!r} never appeared on /metrics")
