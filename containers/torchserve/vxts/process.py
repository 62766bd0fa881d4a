"""Start, watch and stop the TorchServe JVM.

The JVM is started directly rather than through the `torchserve` script: that script keeps
its pid file in the shared temp folder (so a second server on the machine thinks the first
is "already running") and offers no way to wait for it. Starting `java` ourselves gives one
child process to signal and wait on, and a private `java.io.tmpdir`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ts

from .properties import Ports, render_properties
from .settings import TorchServeSettings
from .upstream import Upstream, UpstreamError

LOG_CONFIG = Path(__file__).with_name("log4j2.xml")
_PR_SET_PDEATHSIG = 1


class TorchServeStartError(RuntimeError):
    """TorchServe exited or never got a READY worker within the readiness budget."""


@dataclass(frozen=True)
class Layout:
    """The per-server folders; nothing TorchServe writes lands outside `root`."""

    root: Path

    @property
    def model_store(self) -> Path:
        return self.root / "model_store"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "config.properties"

    def create(self) -> None:
        for folder in (self.model_store, self.tmp, self.logs):
            folder.mkdir(parents=True, exist_ok=True)


def python_path() -> str:
    """PYTHONPATH for TorchServe's Python workers: vxserve, vxts and what we were given."""
    import vxserve

    parts = [
        str(Path(vxserve.__file__).resolve().parent.parent),
        str(Path(__file__).resolve().parent.parent),
    ]
    existing = os.environ.get("PYTHONPATH", "")
    parts += [p for p in existing.split(os.pathsep) if p and p not in parts]
    return os.pathsep.join(parts)


def java_command(settings: TorchServeSettings, layout: Layout) -> list[str]:
    """The command `torchserve --start --foreground` would run, minus its pid file."""
    ts_home = Path(ts.__file__).resolve().parent.parent
    return [
        settings.java,
        f"-Dmodel_server_home={ts_home}",
        f"-Djava.io.tmpdir={layout.tmp}",
        f"-Dlog4j.configurationFile=file://{LOG_CONFIG}",
        *settings.vmargs.split(),
        "-cp",
        f".:{ts_home / 'ts' / 'frontend' / '*'}",
        "org.pytorch.serve.ModelServer",
        "--python",
        sys.executable,
        "-f",
        str(layout.config),
        "-s",
        str(layout.model_store),
        "-ncs",
    ]


def _die_with_parent() -> None:
    """Runs in the child before exec: if the front is killed outright, the JVM follows."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class TorchServeProcess:
    """One TorchServe JVM with its model loaded from `layout.model_store`."""

    def __init__(self, settings: TorchServeSettings, layout: Layout, ports: Ports):
        self.settings = settings
        self.layout = layout
        self.ports = ports
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.inference}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.management}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}"

    def start(self) -> None:
        self.layout.create()
        self.layout.config.write_text(
            render_properties(self.settings, self.ports, self.layout.model_store)
        )
        env = dict(os.environ)
        env.update(
            PYTHONPATH=python_path(),
            # TorchServe's defaults write logs/ into the current directory; the workers'
            # tempfile users (and the archiver) must not share /tmp with another server.
            LOG_LOCATION=str(self.layout.logs),
            METRICS_LOCATION=str(self.layout.logs),
            TMPDIR=str(self.layout.tmp),
            TEMP=str(self.layout.tmp),
            PYTHONUNBUFFERED="1",
            # Where a worker whose model fails to load writes its traceback (vxts_entry).
            VXTS_LOAD_ERROR_FILE=str(self.load_error_file),
        )
        self.load_error_file.unlink(missing_ok=True)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            java_command(self.settings, self.layout),
            cwd=self.layout.root,
            env=env,
            stdin=subprocess.DEVNULL,
            # Its own session: a SIGTERM to the front's process group (the emulator, a
            # terminal's Ctrl-C) must not stop the JVM while the front is still draining;
            # the front stops it afterwards, and PDEATHSIG covers the front being killed.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    @property
    def load_error_file(self) -> Path:
        return self.layout.tmp / "load-error.txt"

    def load_error(self) -> str | None:
        """The last line of a worker's load traceback (the exception), None if none failed."""
        try:
            lines = self.load_error_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return None
        return lines[-1] if lines else None

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    async def worker_status(self, management: Upstream) -> list[str] | None:
        """Statuses of the model's workers ("READY", "UNLOADING", ...); None if unknown."""
        try:
            response = await management.request(
                "GET", f"/models/{self.settings.model_name}", timeout=2.0
            )
            described = json.loads(response.body) if response.status == 200 else None
        except (UpstreamError, TimeoutError, ValueError):
            return None
        if not described:
            return None
        return [w.get("status", "") for w in described[0].get("workers", [])]

    async def wait_ready(self, management: Upstream, poll_s: float = 0.1) -> float:
        """Wait until a worker is READY (its handler has loaded and warmed the model).

        TorchServe's /ping answers "Healthy" as soon as the frontend is up, before any
        worker has loaded anything, so readiness reads the management API instead.
        Returns seconds since start; raises TorchServeStartError on exit or timeout.
        """
        deadline = self.started_at + self.settings.ready_timeout_s
        while True:
            code = self.exited()
            if code is not None:
                raise TorchServeStartError(f"TorchServe exited with status {code} during start")
            if "READY" in (await self.worker_status(management) or []):
                return time.monotonic() - self.started_at
            failure = self.load_error()
            if failure is not None:
                # TorchServe would retry the worker forever; a load that failed once fails
                # again, so the start fails now, with the cause (traceback in the log).
                raise TorchServeStartError(f"the model failed to load in a TorchServe worker: "
                                           f"{failure} (traceback in the server log)")
            if time.monotonic() > deadline:
                raise TorchServeStartError(
                    f"no TorchServe worker became READY within {self.settings.ready_timeout_s:g} s "
                    "(VXSERVE_TS_READY_TIMEOUT_S); see the MODEL_LOG lines above"
                )
            await asyncio.sleep(poll_s)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM the JVM (its shutdown hook stops the workers), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
