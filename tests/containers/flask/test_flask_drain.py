"""SIGTERM to the real server process: in-flight requests finish, new ones get 503, then exit 0."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import requests

from . import server as srv

HANDLER = """
import time

from vxserve import ClassificationHandler


class Slow(ClassificationHandler):
    def inference(self, batch):
        if bool((batch[:, 0] == 2).any()):
            time.sleep(1.5)
        return super().inference(batch)
"""


def test_sigterm_drains_then_exits(tmp_path: Path, start_server) -> None:
    folder = tmp_path / "model"
    shutil.copytree(srv.sentiment_artifacts() / "torchscript", folder)
    (folder / "handler.py").write_text(HANDLER)
    manifest = (folder / "vxserve.json").read_text()
    (folder / "vxserve.json").write_text(manifest.replace('"classification"', '"handler.py"'))
    server = start_server(folder, VXSERVE_BATCHING="on")
    server.wait_ready()

    answers: list[requests.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(server.predict({"instances": [[2] * 64]}))
    )
    slow.start()
    time.sleep(0.3)  # the slow request is in the model now
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)

    refused = server.predict({"instances": [[5] * 64]})
    assert refused.status_code == 503
    assert "draining" in refused.json()["error"]["message"]
    assert requests.get(server.url + "/health", timeout=5).status_code == 503

    slow.join(10)
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json()["predictions"][0]["label"] in ("negative", "neutral", "positive")
    assert server.proc.wait(30) == 0
    log = server.log()
    assert "draining: 1 request(s) in flight" in log and "drained" in log
