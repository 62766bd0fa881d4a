"""A tiny stand-in serving container, written to a temp dir, for the process runtime tests.

It speaks the Vertex container contract (AIP_HTTP_PORT, AIP_HEALTH_ROUTE,
AIP_PREDICT_ROUTE) with the standard library only, so the runtime is tested against a
real server process without depending on the bundled containers being built.
"""

from __future__ import annotations

import os
import shlex
import textwrap
from pathlib import Path

import pytest

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


# The Docker engine the docker-marked tests use, found the way `make test` provides it
# (scripts/docker/up.sh writes $VXDEPLOY_DOCKER_STATE/env; see tests/build/conftest.py).
ENGINE_ENV_FILE = Path(os.environ.get("VXDEPLOY_DOCKER_STATE", "/var/tmp/vxdeploy-docker")) / "env"


def _engine_settings() -> dict[str, str]:
    if os.environ.get("VXDEPLOY_TEST_DOCKER_HOST"):
        return {k: v for k, v in os.environ.items() if k.startswith("VXDEPLOY_TEST_")}
    values: dict[str, str] = {}
    if ENGINE_ENV_FILE.is_file():
        for line in ENGINE_ENV_FILE.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                parsed = shlex.split(value)
                values[key.strip()] = parsed[0] if parsed else ""
    if os.environ.get("VXDEPLOY_TEST_REQUIRE_DOCKER"):
        values["VXDEPLOY_TEST_REQUIRE_DOCKER"] = os.environ["VXDEPLOY_TEST_REQUIRE_DOCKER"]
    return values


@pytest.fixture(scope="session")
def docker_settings() -> dict[str, str]:
    """Host and base image of a reachable engine; skip (or fail where one is required)."""
    settings = _engine_settings()

    def unavailable(reason: str) -> None:
        if settings.get("VXDEPLOY_TEST_REQUIRE_DOCKER") == "1":
            pytest.fail(f"Docker engine required but unusable: {reason}")
        pytest.skip(
            f"no Docker engine: {reason} (run `make docker-up` or set VXDEPLOY_TEST_DOCKER_HOST)"
        )

    host = settings.get("VXDEPLOY_TEST_DOCKER_HOST", "")
    if not host:
        unavailable(f"VXDEPLOY_TEST_DOCKER_HOST not set and no env file at {ENGINE_ENV_FILE}")
    import docker

    try:
        docker.DockerClient(base_url=host, timeout=10).ping()
    except Exception as exc:
        unavailable(f"{host} does not answer ({type(exc).__name__})")
    if not settings.get("VXDEPLOY_TEST_BASE_IMAGE"):
        unavailable("no base image with python3 (scripts/docker/base-image.sh)")
    return settings
