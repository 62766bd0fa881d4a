"""A TorchServe user's own handler and .mar run unchanged behind the Vertex routes.

Two real servers (JVM, Python worker, front) for the module: one given the `.mar` that
torch-model-archiver made from the tutorial's files, one given the same files as a plain
folder (handler.py subclassing ts BaseHandler, model.py, model.pth, vocab.json). Both are
asked through Vertex's predict route with a Vertex body, and must answer what the
handler computes by hand — stock TorchServe semantics: one handler item per instance
(TorchServe's json envelope), `{"predictions": [...]}` out.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ..serverproc import ServerProc, start
from .tutorial_model import eager_predictions, make_mar, write_sources

HEALTH, PREDICT = "/v1/models/sentiment/ready", "/v1/models/sentiment:predict"
# Same word count each: the handler pads a batch to its longest text, and an LSTM is not
# padding-invariant, so equal lengths keep the comparison with one-by-one answers exact.
TEXTS = ["good movie great acting", "awful plot boring movie", "fine fun movie plot"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sources(tmp_path_factory.mktemp("tutorial") / "src")


@pytest.fixture(scope="module")
def servers(sources: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("ts-stock")
    mar_dir = work / "mar-artifacts"
    make_mar(sources, mar_dir)
    env = {"VXSERVE_TS_READY_TIMEOUT_S": "150", "VXSERVE_CACHE_DIR": str(work / "cache"),
           "AIP_HEALTH_ROUTE": HEALTH, "AIP_PREDICT_ROUTE": PREDICT}
    mar = start("torchserve", {**env, "AIP_STORAGE_URI": f"file://{mar_dir}"}, work / "mar.log")
    folder = start("torchserve", {**env, "AIP_STORAGE_URI": str(sources)}, work / "folder.log")
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.wait_ready(180, HEALTH), [mar, folder]))
        yield {"mar": mar, "folder": folder}
    finally:
        for server in (mar, folder):
            server.terminate(timeout_s=60)


def post(server: ServerProc, body: object) -> httpx.Response:
    return httpx.post(server.url + PREDICT, content=json.dumps(body).encode(),
                      headers={"content-type": "application/json"}, timeout=60)


@pytest.mark.parametrize("kind", ["mar", "folder"])
def test_vertex_instances_reach_the_stock_handler_one_item_each(
        servers, sources: Path, kind: str) -> None:
    expected = eager_predictions(sources, TEXTS)
    # The tutorial's request shapes: {"data": text} and {"data": {"b64": ...}}; plain text.
    as_objects = [{"data": TEXTS[0]},
                  {"data": {"b64": base64.b64encode(TEXTS[1].encode()).decode()}},
                  {"data": TEXTS[2]}]
    for instances in (as_objects, TEXTS):
        response = post(servers[kind], {"instances": instances})
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert [p["label"] for p in predictions] == [e["label"] for e in expected]
        for got, want in zip(predictions, expected, strict=True):
            assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-5)


def test_the_vertex_contract_stays_around_the_stock_handler(servers) -> None:
    server = servers["mar"]
    bad = httpx.post(server.url + PREDICT, content=b'{"inputs": ["x"]}',
                     headers={"content-type": "application/json"}, timeout=30)
    assert bad.status_code == 400
    assert 'no "instances"' in bad.json()["error"]["message"]
    # The handler raises on an instance it cannot read: a JSON error, not a stack trace.
    failed = post(server, {"instances": [{"data": 12}]})
    assert failed.status_code >= 500
    assert failed.json()["error"]["message"]
    assert httpx.get(server.url + HEALTH, timeout=10).status_code == 200
