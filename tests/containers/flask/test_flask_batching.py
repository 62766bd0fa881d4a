"""Concurrency over real HTTP: batching, mixed good and bad requests, failure isolation, 429."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from . import server as srv
from .server import eager_probabilities

LABELS = ["negative", "neutral", "positive"]

# A user handler shipped in the artifact folder: token 2 first = a slow forward pass,
# token 3 first = a model that crashes on input that passed validation.
HANDLER = """
import time

from vxserve import ClassificationHandler


class SlowOrBroken(ClassificationHandler):
    def inference(self, batch):
        first = batch[:, 0]
        if bool((first == 2).any()):
            time.sleep(0.8)
        if bool((first == 3).any()):
            raise RuntimeError("boom: this model cannot take token 3 first")
        return super().inference(batch)
"""


def _instance(i: int) -> list[int]:
    return [(i * 7919 + j * 104729) % 19990 + 5 for j in range(64)]


def _fire(server: srv.FlaskServer, bodies: list[dict]) -> list[requests.Response]:
    """All bodies at once, each from its own thread with its own keep-alive session."""
    results: list[requests.Response | None] = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def go(i: int) -> None:
        with requests.Session() as session:
            barrier.wait(10)
            results[i] = server.predict(bodies[i], session)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


@pytest.fixture(scope="module")
def sentiment_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[srv.FlaskServer]:
    artifacts = srv.sentiment_artifacts()
    running = srv.start(
        artifacts / "torchscript",
        tmp_path_factory.mktemp("flask-batching"),
        VXSERVE_BATCHING="on",
        VXSERVE_BATCH_DELAY_MS="20",
    )
    try:
        running.wait_ready()
        yield running
    finally:
        running.kill()


def test_concurrent_good_and_bad_requests_batch_and_each_gets_its_own_answer(
    sentiment_server: srv.FlaskServer,
) -> None:
    bodies: list[dict] = []
    for i in range(36):
        if i % 3 == 2:
            bodies.append({"instances": [_instance(i), [0.5] * 64]})  # bad: floats
        else:
            bodies.append({"instances": [_instance(i), _instance(i + 100)]})
    before = sentiment_server.metrics()
    responses = _fire(sentiment_server, bodies)
    after = sentiment_server.metrics()

    good = [i for i in range(36) if i % 3 != 2]
    expected = eager_probabilities([x for i in good for x in bodies[i]["instances"]])
    for n, i in enumerate(good):
        assert responses[i].status_code == 200, responses[i].text
        got = [list(p["probabilities"].values()) for p in responses[i].json()["predictions"]]
        _close(got, expected[2 * n : 2 * n + 2])
    for i in range(2, 36, 3):
        assert responses[i].status_code == 400
        assert "instance 1: expected integers" in responses[i].json()["error"]["message"]

    passes = _value(after, "vxserve_batch_size_count") - _value(before, "vxserve_batch_size_count")
    rows = _value(after, "vxserve_batch_size_sum") - _value(before, "vxserve_batch_size_sum")
    assert rows == 2 * len(good)  # every good instance ran exactly once
    assert passes < len(good)  # fewer forward passes than requests: batched


def test_mixed_lengths_in_one_request_come_back_in_order(sentiment_server) -> None:
    instances = [_instance(1)[:10], _instance(2), _instance(3)[:10], _instance(4)[:33]]
    response = sentiment_server.predict({"instances": instances})
    assert response.status_code == 200
    got = [list(p["probabilities"].values()) for p in response.json()["predictions"]]
    expected = [eager_probabilities([x])[0] for x in instances]  # each alone, unpadded
    _close(got, expected)


@pytest.fixture(scope="module")
def custom_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[srv.FlaskServer]:
    artifacts = srv.sentiment_artifacts()
    folder: Path = tmp_path_factory.mktemp("custom") / "model"
    shutil.copytree(artifacts / "torchscript", folder)
    (folder / "handler.py").write_text(HANDLER)
    manifest = (folder / "vxserve.json").read_text()
    (folder / "vxserve.json").write_text(manifest.replace('"classification"', '"handler.py"'))
    running = srv.start(
        folder,
        tmp_path_factory.mktemp("flask-custom"),
        VXSERVE_BATCHING="on",
        VXSERVE_BATCH_SIZE="8",
        VXSERVE_BATCH_DELAY_MS="30",
        VXSERVE_MAX_QUEUE="8",
        VXSERVE_MODEL_WORKERS="1",  # one forward pass at a time: the slow one fills the queue
    )
    try:
        running.wait_ready()
        yield running
    finally:
        running.kill()


def test_a_request_that_breaks_the_model_fails_alone(custom_server: srv.FlaskServer) -> None:
    bodies = [{"instances": [_instance(i)]} for i in range(6)]
    bodies[3] = {"instances": [[3, *_instance(3)[1:]]]}
    responses = _fire(custom_server, bodies)
    assert responses[3].status_code == 500
    assert "boom: this model cannot take token 3 first" in responses[3].json()["error"]["message"]
    for i in (0, 1, 2, 4, 5):
        assert responses[i].status_code == 200, responses[i].text
        assert responses[i].json()["predictions"][0]["label"] in LABELS
    assert custom_server.predict({"instances": [_instance(9)]}).status_code == 200


def test_a_full_queue_answers_429_and_then_recovers(custom_server: srv.FlaskServer) -> None:
    slow = threading.Thread(
        target=custom_server.predict, args=({"instances": [[2, *_instance(0)[1:]]]},)
    )
    slow.start()  # holds the model for 0.8 s
    time.sleep(0.25)
    filler = threading.Thread(
        target=custom_server.predict, args=({"instances": [_instance(i) for i in range(8)]},)
    )
    filler.start()  # 8 instances wait: the queue (VXSERVE_MAX_QUEUE=8) is full
    time.sleep(0.2)
    response = custom_server.predict({"instances": [_instance(1)]})
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED" and "VXSERVE_MAX_QUEUE=8" in error["message"]
    slow.join(10)
    filler.join(10)
    assert custom_server.predict({"instances": [_instance(1)]}).status_code == 200


def _close(got: list[list[float]], expected: list[list[float]]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, abs=1e-5)


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_state_dict_without_a_manifest_still_decides_batching(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Weights plus model code and no vxserve.json used to turn batching off for good."""
    folder = tmp_path_factory.mktemp("no-manifest")
    source = srv.sentiment_artifacts() / "state_dict"
    for name in ("weights.pt", "model.py", "index_to_name.json"):
        shutil.copy(source / name, folder / name)
    running = srv.start(folder, tmp_path_factory.mktemp("flask-no-manifest"))
    try:
        running.wait_ready()
        response = running.predict({"instances": [_instance(1), _instance(2)]})
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 2
        deadline = time.monotonic() + 60
        while "measured on the first request" not in running.log():
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.1)
        assert "batching on" in running.log(), running.log()
        assert _value(running.metrics(), "vxserve_batching_enabled") == 1
        bodies = [{"instances": [_instance(i)]} for i in range(6)]
        assert all(r.status_code == 200 for r in _fire(running, bodies))
    finally:
        running.kill()
