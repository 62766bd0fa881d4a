"""The TorchServe container as a real process: JVM, Python worker, front, on loopback.

Two servers start side by side for the whole module (JVM start is slow, so they are
shared): `main` serves the example TorchScript model on custom routes; `aux` serves it
through a handler that raises CUDA's out-of-memory error on a marker token (no GPU here:
that error is the boundary simulated), with a small queue, and is SIGTERMed last.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
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

HEALTH, PREDICT = "/v1/models/sentiment/ready", "/v1/models/sentiment:predict"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return ensure_example_artifacts() / "torchscript"


@pytest.fixture(scope="module")
def servers(artifacts: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("ts")
    aux_artifacts = work / "aux-artifacts"
    shutil.copytree(artifacts, aux_artifacts)
    (aux_artifacts / "handler.py").write_text(MARKER_HANDLER)
    common = {"VXSERVE_CACHE_DIR": str(work / "cache"), "VXSERVE_TS_READY_TIMEOUT_S": "150"}
    main = start("torchserve", {
        **common,
        "AIP_STORAGE_URI": str(artifacts),
        "AIP_HEALTH_ROUTE": HEALTH,
        "AIP_PREDICT_ROUTE": PREDICT,
        "VXSERVE_BATCH_SIZE": "8",
        "VXSERVE_BATCH_DELAY_MS": "25",
        "VXSERVE_MAX_BODY_BYTES": "200000",
    }, work / "main.log")
    aux = start("torchserve", {
        **common,
        "AIP_STORAGE_URI": f"file://{aux_artifacts}",
        "VXSERVE_HANDLER": "handler.py:MarkerHandler",
        "VXSERVE_BATCH_SIZE": "4",
        "VXSERVE_MAX_QUEUE": "100",
        "VXSERVE_MAX_BODY_BYTES": str(8 * 1024 * 1024),
        "VXSERVE_DRAIN_TIMEOUT_S": "60",
    }, work / "aux.log")
    try:
        with ThreadPoolExecutor(2) as pool:
            ready = list(pool.map(lambda s: s[0].wait_ready(180, s[1]),
                                  [(main, HEALTH), (aux, "/health")]))
        print(f"\ntime to ready: main {ready[0]:.2f}s, aux {ready[1]:.2f}s (started together)")
        yield main, aux
    finally:
        for server in (main, aux):
            server.terminate(timeout_s=60)


@pytest.fixture(scope="module")
def eager(artifacts: Path):
    model = torch.jit.load(str(artifacts / "model.pt")).eval()

    def predict(instance: list[int]) -> list[float]:
        with torch.inference_mode():
            return torch.softmax(model(torch.tensor([instance])), dim=1)[0].tolist()

    return predict


def tokens(n: int, length: int, seed: int, first: int | None = None) -> list[list[int]]:
    rows = torch.randint(1, 19_000, (n, length), generator=torch.Generator().manual_seed(seed))
    if first is not None:
        rows[:, 0] = first
    return rows.tolist()


def post(server: ServerProc, body, route: str = "/predict", **kw) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.url + route, content=content,
                      headers={"content-type": "application/json"}, timeout=60, **kw)


def assert_matches_eager(predictions: list[dict], instances: list[list[int]], eager) -> None:
    assert len(predictions) == len(instances)
    for prediction, instance in zip(predictions, instances, strict=True):
        expected = eager(instance)
        got = [prediction["probabilities"][label] for label in LABELS]
        assert got == pytest.approx(expected, abs=1e-5)
        assert prediction["label"] == LABELS[max(range(3), key=expected.__getitem__)]


def test_health_is_503_until_the_worker_is_ready(servers, tmp_path_factory) -> None:
    main, aux = servers
    for server in (main, aux):
        answered = [c for c in server.health_codes if c]
        assert answered[0] == 503 and answered[-1] == 200
        assert set(answered) <= {200, 503}
        # TorchServe wrote nothing into the working directory (no logs/, no model_store/).
        assert not (server.log_path.parent / "logs").exists()
        assert not (server.log_path.parent / "model_store").exists()
    assert httpx.get(main.url + "/health").status_code == 404  # only the configured route


def test_the_front_listens_on_loopback_like_every_local_server(servers) -> None:
    """The test servers run as the emulator runs them; the image's 0.0.0.0 default would
    have put them on every interface of this machine."""
    for server in servers:
        assert f"serving on 127.0.0.1:{server.port} " in server.log()


def test_predictions_equal_eager_pytorch(servers, eager) -> None:
    main, _ = servers
    instances = tokens(3, 64, seed=1) + tokens(2, 17, seed=2) + tokens(1, 64, seed=3)
    response = post(main, {"instances": instances, "parameters": {}}, PREDICT)
    assert response.status_code == 200, response.text
    assert_matches_eager(response.json()["predictions"], instances, eager)


BAD_BODIES = [
    (b"not json", "not valid JSON"),
    (b"", "request body is empty"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"inputs": [[1, 2]]}', 'no "instances"'),
    (b'{"instances": {"a": 1}}', '"instances" must be a list'),
    (b'{"instances": []}', '"instances" is empty'),
    (b'{"instances": [[1, 2]], "parameters": [1]}', '"parameters" must be a JSON object'),
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
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


def test_over_limit_body_is_413(servers) -> None:
    main, _ = servers
    response = post(main, {"instances": tokens(600, 64, seed=4)}, PREDICT)
    assert response.status_code == 413
    assert "VXSERVE_MAX_BODY_BYTES" in response.json()["error"]["message"]


def test_concurrent_mixed_requests_batch_and_fail_alone(servers, eager) -> None:
    main, _ = servers
    jobs = []
    for i in range(24):
        if i % 4 == 1:
            jobs.append(("bad", {"instances": [[1.5] * 64]}))
        elif i % 4 == 3:
            jobs.append(("bad", {"instances": [[[1, 2]]]}))
        else:
            jobs.append(("good", {"instances": tokens(1 + i % 3, 64 if i % 2 else 20, seed=i)}))
    with ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(lambda job: post(main, job[1], PREDICT), jobs))
    batch_sizes = []
    for (kind, body), response in zip(jobs, responses, strict=True):
        if kind == "good":
            assert response.status_code == 200, response.text
            assert_matches_eager(response.json()["predictions"], body["instances"], eager)
        else:
            assert response.status_code == 400, response.text
        batch_sizes.append(int(response.headers.get("x-vxts-batch-requests", "1")))
    assert max(batch_sizes) > 1, "TorchServe never batched concurrent requests"
    assert max(batch_sizes) <= 8  # VXSERVE_BATCH_SIZE


def test_metrics_count_requests_and_batches(servers) -> None:
    main, _ = servers
    assert post(main, {"instances": tokens(1, 64, seed=9)}, PREDICT).status_code == 200
    text = httpx.get(main.url + "/metrics", timeout=10).text
    assert 'vxserve_requests_total{code="200"}' in text
    assert 'vxserve_requests_total{code="400"}' in text
    assert "vxserve_model_ready 1.0" in text
    assert 0 < _metric(text, "vxts_start_seconds", "") < 180
    assert "ts_inference_requests_total" in text  # TorchServe's own, appended
    batches = _metric(text, "VxtsBatches")
    requests = _metric(text, "VxtsBatchRequests")
    assert 0 < batches < requests  # mean batch size above one after the concurrent test


def test_health_turns_503_while_a_crashed_worker_restarts(servers, eager) -> None:
    main, _ = servers
    workers = [pid for pid in _descendants(main.proc.pid) if b"model_service_worker" in
               Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    seen: list[int] = []
    deadline = time.monotonic() + 90
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline and not (503 in seen and seen[-1] == 200):
            seen.append(client.get(main.url + HEALTH).status_code)
            time.sleep(0.1)
    assert 503 in seen, "health never noticed the worker was gone"
    assert seen[-1] == 200, "TorchServe did not bring a worker back"
    instances = tokens(2, 64, seed=50)
    response = post(main, {"instances": instances}, PREDICT)
    assert response.status_code == 200, response.text
    assert_matches_eager(response.json()["predictions"], instances, eager)


def _metric(text: str, name: str, after: str = "{") -> float:
    for line in text.splitlines():
        if line.startswith(name + (after or " ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


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
        assert_matches_eager(response.json()["predictions"], body["instances"], eager)
    assert httpx.get(aux.url + "/health").status_code == 200  # the server lives on


def test_requests_waiting_for_a_busy_worker_go_as_one_bundle_each_answered_alone(
    servers, eager
) -> None:
    """aux has one TorchServe worker: while a 2 s pass holds it, three requests (one bad)
    wait in the front, then go to the worker together; each keeps its own status."""
    _, aux = servers
    slow = {"instances": tokens(1, 64, seed=50, first=SLOW_MARKER)}
    waiting = [{"instances": tokens(1, 64, seed=51)}, {"instances": [[1.5] * 64]},
               {"instances": tokens(2, 64, seed=52)}]
    with ThreadPoolExecutor(4) as pool:
        busy = pool.submit(post, aux, slow)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "vxserve_inflight_requests 1.0" not in (
            httpx.get(aux.url + "/metrics", timeout=5).text
        ):
            time.sleep(0.01)
        answers = list(pool.map(lambda body: post(aux, body), waiting))
        assert busy.result().status_code == 200
    good, bad, two = answers
    assert good.status_code == 200 and two.status_code == 200, (good.text, two.text)
    assert_matches_eager(good.json()["predictions"], waiting[0]["instances"], eager)
    assert_matches_eager(two.json()["predictions"], waiting[2]["instances"], eager)
    assert bad.status_code == 400 and "integers" in bad.json()["error"]["message"]
    assert {a.headers["x-vxts-batch-requests"] for a in answers} == {"3"}


def test_full_queue_is_429_and_sigterm_drains_then_stops_the_jvm(servers, eager) -> None:
    _, aux = servers
    children = _descendants(aux.proc.pid)
    assert children, "no TorchServe JVM under the front"
    # 60 instances, the first with the slow marker: one forward pass of 2 s.
    slow = {"instances": tokens(1, 64, seed=40, first=SLOW_MARKER) + tokens(59, 64, seed=43)}
    result: dict[str, Any] = {}

    def send_slow() -> None:
        result["slow"] = post(aux, slow)
        result["answered_at"] = time.monotonic()

    thread = threading.Thread(target=send_slow)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "vxserve_inflight_requests 1.0" not in (
        httpx.get(aux.url + "/metrics", timeout=5).text
    ):
        time.sleep(0.01)
    # 60 instances in flight; 60 more would exceed VXSERVE_MAX_QUEUE=100.
    crowded = post(aux, {"instances": tokens(60, 8, seed=41)})
    assert crowded.status_code == 429, crowded.text
    assert "VXSERVE_MAX_QUEUE=100" in crowded.json()["error"]["message"]
    sigterm_at = time.monotonic()
    code = aux.terminate(timeout_s=90, group=True)  # as the emulator stops a server
    thread.join(60)
    assert result["slow"].status_code == 200, result["slow"].text
    assert result["answered_at"] > sigterm_at, "the request finished before SIGTERM: no drain seen"
    assert_matches_eager(result["slow"].json()["predictions"], slow["instances"], eager)
    assert code in (0, -15)
    time.sleep(0.5)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists() and _state(pid) != "Z"]
    assert not alive, f"processes left after SIGTERM: {alive}"


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            procs.setdefault(ppid, []).append(int(entry.name))
    while frontier:
        children = procs.get(frontier.pop(), [])
        found += children
        frontier += children
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
