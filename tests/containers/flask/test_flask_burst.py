"""A burst of slow predictions: health and /metrics still answer at once.

Vertex restarts a replica whose health probe times out. The server awaits predictions on
its event loop (vxserve.web); anything that may block there stalls every connection, the
probe included. A slow model runs in the model workers; a handler that overrides
pre/post-processing (a tokenizer, a fetch) has those run in request threads, never on the
loop (vxserve.handler.quick_hooks).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import requests

from . import server as srv

SLOW_MODEL = """
import time

from vxserve import ClassificationHandler


class SlowModel(ClassificationHandler):
    def inference(self, batch):
        time.sleep(0.25)
        return super().inference(batch)
"""

# Blocks (like a tokenizer or a fetch, so it runs in a request thread) while the test holds
# the gate: every request thread is then busy at once for as long as the test needs, where a
# fixed 0.25 s sleep left a window too short for a busy machine to observe (CI missed it).
SLOW_PREPROCESS = """
import time
from pathlib import Path

from vxserve import ClassificationHandler

GATE = Path(__file__).with_name("gate")


class SlowPreprocess(ClassificationHandler):
    def preprocess(self, instances, parameters):
        deadline = time.monotonic() + 20
        while GATE.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return super().preprocess(instances, parameters)
"""

BURST = 128  # more than VXSERVE_HTTP_THREADS (64) requests at once


def _with_handler(tmp_path: Path, code: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(srv.sentiment_artifacts() / "torchscript", folder)
    (folder / "handler.py").write_text(code)
    manifest = (folder / "vxserve.json").read_text()
    (folder / "vxserve.json").write_text(manifest.replace('"classification"', '"handler.py"'))
    return folder


def _burst(server: srv.FlaskServer, answers: list[int]) -> list[threading.Thread]:
    def send(i: int) -> None:
        answers.append(server.predict({"instances": [[1 + i % 50] * 64]}).status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(BURST)]
    for thread in threads:
        thread.start()
    return threads


def _wait_inflight(server: srv.FlaskServer, at_least: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in server.metrics().splitlines():
            if line.startswith("vxserve_inflight_requests ") and float(line.split()[1]) >= at_least:
                return
        time.sleep(0.05)
    raise AssertionError(f"never {at_least} requests in flight:\n{server.log()}")


@pytest.mark.parametrize(
    "code", [SLOW_MODEL, SLOW_PREPROCESS], ids=["slow-model", "slow-preprocess"]
)
def test_health_answers_during_a_burst_of_slow_predictions(
    tmp_path: Path, start_server, code: str
) -> None:
    server = start_server(
        _with_handler(tmp_path, code), VXSERVE_BATCHING="on", VXSERVE_BATCH_SIZE="4",
        VXSERVE_MODEL_WORKERS="1",
    )
    server.wait_ready()
    gate = tmp_path / "model" / "gate"  # the slow preprocess waits while it exists
    gate.touch()
    answers: list[int] = []
    threads = _burst(server, answers)
    try:
        _wait_inflight(server, 50)  # the burst has arrived; the model takes seconds for it
        health = requests.get(server.url + "/health", timeout=2)  # raises on a queued probe
        assert health.status_code == 200
        assert "vxserve_queue_depth" in requests.get(server.url + "/metrics", timeout=2).text
    finally:
        gate.unlink()
        for thread in threads:
            thread.join(60)
    assert answers == [200] * BURST
