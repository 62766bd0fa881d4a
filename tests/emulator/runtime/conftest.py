"""A tiny stand-in serving container, written to a temp dir, for the process runtime tests.

It speaks the Vertex container contract (AIP_HTTP_PORT, AIP_HEALTH_ROUTE,
AIP_PREDICT_ROUTE) with the standard library only, so the runtime is tested against a
real server process without depending on the bundled containers being built.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.docker_engine import find_engine, unavailable

SERVER = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    MODE = os.environ.get("TINY_MODE", "ok")
    if MODE == "crash":
        print("tiny: failing on purpose: model file missing", flush=True)
        sys.exit(3)
    if MODE == "child":
        # A grandchild in the same process group, like a gunicorn worker.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        open(os.environ["TINY_CHILD_PID_FILE"], "w").write(str(child.pid))
    if MODE == "ignore_term":
        signal.signal(signal.SIGTERM, lambda *a: print("tiny: ignoring SIGTERM", flush=True))
    started = time.monotonic()
    delay = float(os.environ.get("TINY_READY_AFTER_S", "0"))

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != os.environ["AIP_HEALTH_ROUTE"]:
                return self._send(404, {"error": "not found"})
            if MODE == "never_ready" or time.monotonic() - started < delay:
                return self._send(503, {"status": "loading"})
            self._send(200, {"status": "ok", "helper": os.environ.get("TINY_HELPER")})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            preds = [sum(x) for x in body["instances"]]
            self._send(200, {"predictions": preds, "pid": os.getpid(),
                             "cwd": os.getcwd(), "model": os.environ.get("AIP_MODEL_NAME")})

        def log_message(self, *args):
            print("tiny:", args[0] % args[1:], flush=True)

    port = int(os.environ["AIP_HTTP_PORT"])
    print(f"tiny: listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)

MANIFEST = """
name = "flask"
[process]
command = ["{python}", "{container}/tiny_server.py"]
ready_timeout_s = 30
"""


@pytest.fixture
def tiny_containers(tmp_path: Path) -> Path:
    """A containers/ folder whose "flask" entry is the tiny server, plus containers/common."""
    root = tmp_path / "containers"
    (root / "flask").mkdir(parents=True)
    (root / "common").mkdir()
    (root / "flask" / "tiny_server.py").write_text(SERVER)
    (root / "flask" / "container.toml").write_text(MANIFEST)
    # Something importable from {common}, to prove PYTHONPATH is set as the contract says.
    (root / "common" / "tinyhelper.py").write_text("VALUE = 'from-common'\n")
    return root


@pytest.fixture
def tiny_server_source() -> str:
    return SERVER


@pytest.fixture(scope="session")
def docker_settings() -> dict[str, str]:
    """Host and base image of a reachable engine (tests/docker_engine.py)."""
    engine = find_engine()
    if not engine.base_image:
        unavailable("no base image with python3 (scripts/docker/base-image.sh)", engine.required)
    return {"VXDEPLOY_TEST_DOCKER_HOST": engine.host,
            "VXDEPLOY_TEST_BASE_IMAGE": engine.base_image or ""}
