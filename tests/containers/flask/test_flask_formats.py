"""Each artifact format served by the real server process: readiness, then eager-equal answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from . import server as srv
from .server import eager_probabilities

FORMATS = ["torchscript", "export", "state_dict"]
LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, srv.FlaskServer]]:
    """One server per format, started together and watched from their first moment."""
    artifacts = srv.sentiment_artifacts()
    logs = tmp_path_factory.mktemp("flask-formats")
    running = {fmt: srv.start(artifacts / fmt, logs) for fmt in FORMATS}
    errors: list[BaseException] = []

    def wait(server: srv.FlaskServer) -> None:
        try:
            server.wait_ready(timeout_s=120)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wait, args=(s,)) for s in running.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    try:
        if errors:
            raise errors[0]
        yield running
    finally:
        for server in running.values():
            server.kill()


@pytest.mark.parametrize("fmt", FORMATS)
def test_health_503_until_warm_then_predictions_equal_eager(
    fmt: str, servers: dict[str, srv.FlaskServer], instances
) -> None:
    server = servers[fmt]
    assert 503 in server.health_codes, server.health_codes  # answered while loading...
    assert server.health_codes[-1] == 200  # ...then ready
    assert server.health_codes.index(200) > server.health_codes.index(503)

    response = server.predict({"instances": instances, "parameters": {}})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    predictions = response.json()["predictions"]
    expected = eager_probabilities(instances)
    assert len(predictions) == len(expected)
    for p, probs in zip(predictions, expected, strict=True):
        assert list(p["probabilities"]) == LABELS
        assert p["probabilities"] == pytest.approx(dict(zip(LABELS, probs, strict=True)), abs=1e-5)
        assert p["label"] == LABELS[max(range(3), key=probs.__getitem__)]
        assert p["confidence"] == pytest.approx(max(probs), abs=1e-5)


def test_export_format_holds_its_declared_length(servers: dict[str, srv.FlaskServer]) -> None:
    response = servers["export"].predict({"instances": [[5] * 63]})
    assert response.status_code == 400
    assert "instance 0 has shape [63], expected [64]" in response.json()["error"]["message"]
