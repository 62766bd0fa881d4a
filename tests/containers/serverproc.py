"""Run a bundled server the way the emulator does: its container.toml command, a free port.

Tests talk to the real process over loopback; nothing is imported in-process, so what
is tested is what the emulator and the image run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CONTAINERS = REPO / "containers"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProc:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started_at: float
    health_codes: list[int] = field(default_factory=list)
    ready_after_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout_s: float, route: str = "/health") -> float:
        """Poll health until 200; remembers every status seen on the way."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
                try:
                    code = client.get(self.url + route).status_code
                except httpx.TransportError:
                    code = 0
                self.health_codes.append(code)
                if code == 200:
                    self.ready_after_s = time.monotonic() - self.started_at
                    return self.ready_after_s
                time.sleep(0.05)
        raise AssertionError(f"not ready within {timeout_s}s:\n{self.log()}")

    def terminate(self, timeout_s: float = 30.0, *, group: bool = False) -> int:
        """SIGTERM the server (its whole process group with `group`, as the emulator does)."""
        if self.proc.poll() is None:
            if group:
                os.killpg(self.proc.pid, signal.SIGTERM)
            else:
                self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=10)


def start(container: str, env: dict[str, str], log_path: Path) -> ServerProc:
    """Start `containers/<container>` from its manifest with `env` on a free port."""
    manifest = tomllib.loads((CONTAINERS / container / "container.toml").read_text())
    values = {
        "python": sys.executable,
        "container": str(CONTAINERS / container),
        "common": str(CONTAINERS / "common"),
    }
    command = [part.format(**values) for part in manifest["process"]["command"]]
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_"))}
    full_env.update(
        PYTHONPATH=os.pathsep.join([str(CONTAINERS / container), str(CONTAINERS / "common")]),
        AIP_HTTP_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    # As the emulator runs them: reachable from this machine only (the image's default,
    # 0.0.0.0, is for a container's own network namespace).
    full_env.update({"VXSERVE_HTTP_HOST": "127.0.0.1", **env})
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps writing to it
    proc = subprocess.Popen(
        command, env=full_env, cwd=log_path.parent, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    return ServerProc(proc, port, log_path, time.monotonic())


def ensure_example_artifacts() -> Path:
    """examples/sentiment/artifacts, made (idempotently, seconds) if `make example` was not run."""
    folder = REPO / "examples" / "sentiment" / "artifacts"
    if not (folder / "torchscript" / "model.pt").exists():
        subprocess.run(
            [sys.executable, str(REPO / "examples" / "sentiment" / "make_model.py")],
            check=True, timeout=300,
        )
    return folder


OOM_MARKER, SLOW_MARKER = 19_999, 19_998
LABELS = ["negative", "neutral", "positive"]

# A marker token as the first id makes the forward pass raise CUDA's out-of-memory error
# (no GPU here: that error is the boundary simulated) or take 2 s (a busy model, so queue
# and drain are tested without depending on this machine's speed).
MARKER_HANDLER = f'''
import time

import torch
from vxserve.handler import ClassificationHandler


class MarkerHandler(ClassificationHandler):
    def inference(self, batch):
        if bool((batch[:, 0] == {OOM_MARKER}).any()):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if bool((batch[:, 0] == {SLOW_MARKER}).any()):
            time.sleep(2.0)
        return super().inference(batch)
'''
