"""Which processes belong to an emulator's model servers, and sweeping the stray ones.

A model server is started in a session of its own (so it survives a Ctrl-C in the shell
that started the daemon), and TorchServe's JVM in yet another. When the daemon is killed
outright while a server is still starting, that server was never recorded in
`servers.json`: no pid file, no process group and no parent tells its successor about it.
So every server is launched with two environment variables: the state folder that owns it
and a launch id. Children inherit them (gunicorn workers, TorchServe's JVM and its Python
workers), and `/proc/PID/environ` shows them to the same user without any help from the
server. A restarted daemon keeps the launches it adopted or started itself and stops the
rest; `vxdeploy local down` stops every process the state folder owns.

Standard library only: `vxdeploy local down` (control.py) uses it without the SDK.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

OWNER_ENV = "VXDEPLOY_EMULATOR_OWNER"  # the resolved state folder of the emulator
LAUNCH_ENV = "VXDEPLOY_SERVER_LAUNCH"  # one id per started server (its whole tree)
PROC = Path("/proc")


@dataclass(frozen=True)
class OwnedProcess:
    pid: int
    launch: str
    start_time: str  # /proc/PID/stat field 22: tells this process from a later pid reuse


def owner_id(state_dir: Path) -> str:
    """The value of OWNER_ENV for `state_dir` (resolved, so two spellings match)."""
    return str(Path(state_dir).resolve())


def _stat(pid: int) -> list[str] | None:
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone, or another user's process
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key in (OWNER_ENV.encode(), LAUNCH_ENV.encode()):
            out[key.decode()] = value.decode(errors="replace")
    return out


def owned_processes(state_dir: Path) -> list[OwnedProcess]:
    """Live processes started (directly or not) as model servers of `state_dir`."""
    if not PROC.is_dir():
        return []
    owner = owner_id(state_dir)
    me = os.getpid()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        env = _environ(pid)
        if env.get(OWNER_ENV) != owner:
            continue
        fields = _stat(pid)
        if fields is None or fields[0] == "Z":
            continue
        found.append(OwnedProcess(pid, env.get(LAUNCH_ENV, ""), fields[19]))
    return found


def _same(process: OwnedProcess) -> bool:
    fields = _stat(process.pid)
    return fields is not None and fields[0] != "Z" and fields[19] == process.start_time


def _signal(process: OwnedProcess, sig: signal.Signals) -> None:
    if _same(process):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, sig)


def sweep(state_dir: Path, *, keep: set[str] | frozenset[str] = frozenset(),
          grace_s: float = 5.0) -> list[int]:
    """Stop every process owned by `state_dir` whose launch id is not in `keep`.

    SIGTERM first (servers drain and stop their own children), SIGKILL after `grace_s`.
    Returns the pids that were signalled.
    """
    strays = [p for p in owned_processes(state_dir) if p.launch not in keep]
    for process in strays:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_same(p) for p in strays):
        time.sleep(0.05)
    for process in strays:
        _signal(process, signal.SIGKILL)
    return [p.pid for p in strays]
