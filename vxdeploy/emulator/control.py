"""Start, find and stop the emulator daemon: what every local-target command calls first.

`ensure_running()` must be cheap when the daemon is up (read `emulator.json`, one health
GET) and race-safe when it is not (an exclusive lock on `emulator.lock` so two commands
started together spawn one daemon). This module imports only the standard library.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vxdeploy.emulator import ownership
from vxdeploy.emulator.config import EmulatorConfig
from vxdeploy.emulator.constants import ADMIN_PREFIX, INFO_FILE
from vxdeploy.emulator.private_files import private_dir
from vxdeploy.errors import EngineUnavailableError
from vxdeploy.paths import state_home

STATE_DIR_ENV = "VXDEPLOY_EMULATOR_STATE_DIR"
LOCK_FILE = "emulator.lock"
LOG_FILE = "emulator.log"


@dataclass(frozen=True)
class EmulatorInfo:
    rest_url: str
    grpc_target: str | None
    state_dir: Path
    pid: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"state_dir": str(self.state_dir)}


def default_state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_ENV)
    return Path(configured) if configured else state_home() / "emulator"


def _resolve(state_dir: Path | None) -> Path:
    return Path(state_dir) if state_dir is not None else default_state_dir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(rest_url: str, timeout: float = 1.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{rest_url}{ADMIN_PREFIX}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def read_info(state_dir: Path | None = None) -> EmulatorInfo | None:
    """The running daemon's info, or None when none answers for this state dir."""
    folder = _resolve(state_dir)
    try:
        data = json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid = int(data.get("pid", 0))
    if not pid or not _pid_alive(pid) or not _healthy(data.get("rest_url", "")):
        return None
    return EmulatorInfo(rest_url=data["rest_url"], grpc_target=data.get("grpc_target"),
                        state_dir=folder, pid=pid)


@contextmanager
def _locked(folder: Path, timeout_s: float) -> Iterator[None]:
    private_dir(folder)
    with open(folder / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as error:
                if time.monotonic() > deadline:
                    raise EngineUnavailableError(
                        f"another process holds {folder / LOCK_FILE} for over {timeout_s:g}s "
                        "while starting the emulator") from error
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(folder: Path, lines: int = 30) -> str:
    try:
        return "\n".join((folder / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _start_timeout_s() -> float:
    """How long a starting daemon may take: its own start-up plus restoring the deployed
    models, each bounded by the model servers' ready timeout (they start in parallel)."""
    try:
        ready = EmulatorConfig.from_env().ready_timeout_s
    except ValueError:  # the daemon reports the bad value itself, in its log
        ready = EmulatorConfig().ready_timeout_s
    return 60.0 + ready


def ensure_running(state_dir: Path | None = None, *, timeout_s: float | None = None,
                   port: int = 0) -> EmulatorInfo:
    """Return the daemon for `state_dir`, starting it (with its saved state) if needed.

    A daemon is ready once its deployed models are serving again (or have failed to):
    a command that follows at once finds them answering.
    """
    from vxdeploy.waiting import waiting

    folder = _resolve(state_dir)
    info = read_info(folder)
    if info is not None:
        return info
    timeout_s = _start_timeout_s() if timeout_s is None else timeout_s
    with waiting("starting the local emulator", "restoring its deployed models"), \
            _locked(folder, timeout_s):
        info = read_info(folder)  # someone else may have started it while we waited
        if info is not None:
            return info
        (folder / INFO_FILE).unlink(missing_ok=True)
        env = dict(os.environ)
        env["NO_PROXY"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        with open(folder / LOG_FILE, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "vxdeploy.emulator", "--state-dir", str(folder),
                 "--port", str(port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True, close_fds=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise EngineUnavailableError(
                    f"the emulator exited with code {code} while starting; log "
                    f"({folder / LOG_FILE}):\n{_log_tail(folder)}")
            info = read_info(folder)
            if info is not None and info.pid == process.pid:
                return info
            time.sleep(0.05)
        process.terminate()
        raise EngineUnavailableError(
            f"the emulator did not become ready within {timeout_s:g}s; log "
            f"({folder / LOG_FILE}):\n{_log_tail(folder)}")


def stop(state_dir: Path | None = None, *, timeout_s: float = 30.0) -> bool:
    """Stop the daemon and every model server process of its state folder.

    False when no daemon was running. Model servers are stopped either way: a daemon
    killed outright leaves its servers (and one it was still starting) behind, and after
    `local down` no process of this state folder may remain.
    """
    folder = _resolve(state_dir)
    try:
        stopped = _stop_daemon(folder, timeout_s)
    finally:
        ownership.sweep(folder)
    return stopped


def _stop_daemon(folder: Path, timeout_s: float) -> bool:
    try:
        data = json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError):
        return False
    pid = int(data.get("pid", 0))
    if not pid or not _pid_alive(pid):
        (folder / INFO_FILE).unlink(missing_ok=True)
        return False
    os.kill(pid, 15)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid) or _is_zombie(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
    (folder / INFO_FILE).unlink(missing_ok=True)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def admin_get(info: EmulatorInfo, path: str, timeout: float = 5.0) -> Any:
    """GET a JSON document from the daemon's admin surface (`/_emulator/...`)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{info.rest_url}{ADMIN_PREFIX}/{path.lstrip('/')}", timeout=timeout) as resp:
        return json.loads(resp.read())
