"""Ctrl-C: exit 130, and for the commands that resume, say how."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PROFILES


def _stop_daemons_of(state: Path, control: object) -> None:
    """Stop the daemon the interrupted command was starting, even if Ctrl-C came before it
    wrote emulator.json (then `control.stop` cannot find it): processes whose command line
    names this test's own state folder, and nothing else."""
    control.stop(state)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
                and str(state).encode() in _cmdline(entry)]
        if not pids:
            return
        how = signal.SIGTERM if time.monotonic() < deadline - 10 else signal.SIGKILL
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, how)
        time.sleep(0.5)


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


def test_ctrl_c_during_rollout_run_says_how_to_resume(tmp_path: Path):
    from vxdeploy.emulator import control

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state))
    # Hold the emulator's start lock: the command is then surely still waiting to start it
    # when Ctrl-C lands (without it, a fast start could finish first on a loaded machine).
    lock = open(state / control.LOCK_FILE, "a+")  # noqa: SIM115 - released in `finally`
    fcntl.flock(lock, fcntl.LOCK_EX)
    # A shell without job control starts background jobs with SIGINT ignored, and exec
    # keeps that: a suite run that way would test nothing. Ctrl-C at a terminal always finds
    # the default disposition, so give the command exactly that.
    reset_sigint = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                    "os.execv(sys.executable, [sys.executable, '-m', 'vxdeploy', *sys.argv[1:]])")
    run = subprocess.Popen(
        [sys.executable, "-c", reset_sigint, "rollout", "run", "-p", "local", "--profiles-dir",
         str(PROFILES)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert run.stderr is not None
        seen = ""
        deadline = time.monotonic() + 60
        while "waiting: starting the local emulator" not in seen:  # the run is under way
            assert time.monotonic() < deadline and run.poll() is None, seen
            seen += run.stderr.readline()
        run.send_signal(signal.SIGINT)
        err = seen + run.communicate(timeout=60)[1]
    finally:
        if run.poll() is None:
            run.kill()
        lock.close()
        _stop_daemons_of(state, control)
    assert run.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    (hint,) = [line for line in err.splitlines() if line.startswith("hint:")]
    assert "rollout run -p local`" in hint and "resumes the rollout from its current step" in hint
