"""Each artifact format served by a real gunicorn process: readiness, then eager-equal answers."""

from __future__ import annotations

import pytest

from .server import eager_probabilities


@pytest.mark.parametrize("fmt", ["torchscript", "export", "state_dict"])
def test_health_503_until_warm_then_predictions_equal_eager(
    fmt: str, sentiment, instances, start_server
) -> None:
    server = start_server(sentiment / fmt)
    server.wait_ready()
    assert 503 in server.health_codes, server.health_codes  # answered while loading...
    assert server.health_codes[-1] == 200  # ...then ready
    assert server.health_codes.index(200) > server.health_codes.index(503)

    response = server.predict({"instances": instances, "parameters": {}})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    predictions = response.json()["predictions"]
    expected = eager_probabilities(instances)
    assert len(predictions) == len(expected)
    labels = ["negative", "neutral", "positive"]
    for p, probs in zip(predictions, expected, strict=True):
        assert list(p["probabilities"]) == labels
        assert p["probabilities"] == pytest.approx(dict(zip(labels, probs, strict=True)), abs=1e-5)
        assert p["label"] == labels[max(range(3), key=probs.__getitem__)]
        assert p["confidence"] == pytest.approx(max(probs), abs=1e-5)
