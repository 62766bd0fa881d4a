"""Run the flask container's server the way the emulator does: container.toml's command, a
free port.

Tests talk to the real server process over loopback with real HTTP clients; nothing of
the server is imported in-process, so what is tested is what the emulator and image run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[3]
CONTAINER = REPO / "containers" / "flask"
COMMON = REPO / "containers" / "common"
SENTIMENT = REPO / "examples" / "sentiment"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manifest_command() -> list[str]:
    """container.toml's [process] command with its placeholders filled in."""
    spec = tomllib.loads((CONTAINER / "container.toml").read_text())
    values = {"python": sys.executable, "container": str(CONTAINER), "common": str(COMMON)}
    return [part.format(**values) for part in spec["process"]["command"]]


@dataclass
class FlaskServer:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started_at: float
    health_codes: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Poll health every 20 ms until 200, remembering every status seen on the way."""
        deadline = time.monotonic() + timeout_s
        with requests.Session() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
                try:
                    code = session.get(self.url + "/health", timeout=2).status_code
                except requests.ConnectionError:
                    code = 0
                self.health_codes.append(code)
                if code == 200:
                    return
                time.sleep(0.02)
        raise AssertionError(f"not ready after {timeout_s}s:\n{self.log()}")

    def predict(self, body: Any, session: requests.Session | None = None) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        post = (session or requests).post
        return post(
            self.url + "/predict",
            data=data,
            timeout=30,
            headers={"Content-Type": "application/json"},
        )

    def metrics(self) -> str:
        return requests.get(self.url + "/metrics", timeout=5).text

    def kill(self) -> None:
        """Teardown: no drain (test_flask_drain covers it), just gone, with its worker."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> int:
        """SIGTERM the server, as `docker stop` and Vertex scale-down do."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


def start(artifacts: Path, log_dir: Path, **env: str) -> FlaskServer:
    """Start the server on a free port serving `artifacts`; returns at once (not yet ready)."""
    port = free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_"))},
        "PYTHONPATH": os.pathsep.join([str(CONTAINER), str(COMMON)]),
        "AIP_HTTP_PORT": str(port),
        "VXSERVE_HTTP_HOST": "127.0.0.1",  # loopback only, as the emulator runs it
        "AIP_HEALTH_ROUTE": "/health",
        "AIP_PREDICT_ROUTE": "/predict",
        "AIP_STORAGE_URI": str(artifacts),
        "VXSERVE_TORCH_THREADS": "1",
        "VXSERVE_CACHE_DIR": str(log_dir / "cache"),
        **env,
    }
    log_path = log_dir / f"flask-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            manifest_command(),
            cwd=CONTAINER,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return FlaskServer(proc, port, log_path, time.monotonic())


def sentiment_artifacts() -> Path:
    """Make the example model's artifacts (idempotent; seconds the first time)."""
    subprocess.run(
        [sys.executable, str(SENTIMENT / "make_model.py")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return SENTIMENT / "artifacts"


def eager_probabilities(instances: list[list[int]], version_dir: str = "state_dict") -> list:
    """Softmax of the eager nn.Module from model.py with the artifact's weights."""
    import importlib.util

    import torch

    path = SENTIMENT / "artifacts" / version_dir / "model.py"
    spec = importlib.util.spec_from_file_location("sentiment_model_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.SentimentClassifier().eval()
    weights = SENTIMENT / "artifacts" / version_dir / "weights.pt"
    model.load_state_dict(torch.load(weights, weights_only=True))
    with torch.inference_mode():
        return torch.softmax(model(torch.tensor(instances)), dim=1).tolist()
