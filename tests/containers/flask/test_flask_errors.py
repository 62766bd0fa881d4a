"""Every bad input over real HTTP: a 4xx that says what is wrong, and the server lives on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from . import server as srv

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[srv.FlaskServer]:
    artifacts = srv.sentiment_artifacts()
    running = srv.start(
        artifacts / "torchscript",
        tmp_path_factory.mktemp("flask-errors"),
        VXSERVE_MAX_BODY_BYTES=str(LIMIT),
    )
    try:
        running.wait_ready()
        yield running
    finally:
        running.kill()


GOOD = [[5] * 64]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"instances=1", 400, "request body is not valid JSON"),
        (b'"just a string"', 400, "must be a JSON object"),
        (b'{"inputs": [[1, 2]]}', 400, 'has no "instances" (keys: inputs)'),
        (b'{"instances": []}', 400, '"instances" is empty'),
        (b'{"instances": "abc"}', 400, '"instances" must be a list'),
        (b'{"instances": [[1, 2]], "parameters": 3}', 400, '"parameters" must be an object'),
        (b'{"instances": [[[1, 2]]]}', 400, "instance 0 has shape [1, 2], expected [any]"),
        (b'{"instances": [[1, 2], [0.5, 2]]}', 400, "instance 1: expected integers (int64)"),
        (b'{"instances": [[1, 2], ["a", "b"]]}', 400, "instance 1: not a rectangular array"),
        (b'{"instances": [[1, 20000]]}', 400, "values must lie in [0, 19999]"),
        (b'{"instances": [[1, -3]]}', 400, "values must lie in [0, 19999]"),
        (b'{"instances": [7]}', 400, "instance 0: expected an array"),
        (b'{"instances": [[]]}', 400, "instance 0 is empty"),
        (b'{"instances": [[1, 2], []]}', 400, "instance 1 is empty"),
        (b'{"instances": ' + b"[" * 60_000, 400, "nested too deeply"),
        (b'{"instances": [' + b"[" * 500 + b"1" + b"]" * 500 + b"]}", 400, "instance 0"),
    ],
)
def test_bad_requests_get_400_naming_the_problem(
    server: srv.FlaskServer, body: bytes, status: int, message: str
) -> None:
    response = requests.post(server.url + "/predict", data=body, timeout=10)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status and error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    assert server.predict({"instances": GOOD}).status_code == 200  # still serving


def test_a_body_over_the_limit_gets_413(server: srv.FlaskServer) -> None:
    big = json.dumps({"instances": [[19999] * 64] * 200}).encode()
    assert len(big) > LIMIT
    response = server.predict(big)
    assert response.status_code == 413
    assert "VXSERVE_MAX_BODY_BYTES" in response.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit still holds while reading
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    chunked = requests.post(server.url + "/predict", data=chunks(), timeout=10)
    assert chunked.status_code == 413 and "error" in chunked.json()


def test_unknown_routes_and_methods_answer_json(server: srv.FlaskServer) -> None:
    missing = requests.get(server.url + "/v1/models", timeout=5)
    assert missing.status_code == 404
    assert "POST /predict" in missing.json()["error"]["message"]
    wrong_method = requests.get(server.url + "/predict", timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == 405


def test_metrics_count_each_status(server: srv.FlaskServer) -> None:
    before = server.metrics()
    server.predict(b"{")
    server.predict({"instances": GOOD * 3})
    after = server.metrics()
    assert (
        _value(after, 'vxserve_requests_total{code="400"}')
        == _value(before, 'vxserve_requests_total{code="400"}') + 1
    )
    assert _value(after, "vxserve_instances_total") >= _value(before, "vxserve_instances_total") + 3
    assert _value(after, "vxserve_model_ready") == 1.0
    assert "vxserve_request_latency_seconds_bucket" in after
    assert "vxserve_queue_depth" in after and "vxserve_inflight_requests" in after


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
