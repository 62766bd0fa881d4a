"""What a long wait shows: a spinner with what is awaited and the elapsed time on a
terminal, plain lines (start, changes, end) otherwise. Driven through `vxdeploy local up`,
whose wait is the emulator starting."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

VXDEPLOY = [sys.executable, "-m", "vxdeploy"]


@pytest.fixture
def env(tmp_path: Path):
    from vxdeploy.emulator import control

    state = tmp_path / "state"
    yield dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state), COLUMNS="120")
    control.stop(state)


def test_without_a_terminal_one_line_per_state(env: dict[str, str]):
    up = subprocess.run([*VXDEPLOY, "local", "up"], env=env, capture_output=True, text=True,
                        timeout=120)
    assert up.returncode == 0, up.stderr
    lines = up.stderr.splitlines()
    assert lines[0] == "waiting: starting the local emulator: restoring its deployed models"
    assert lines[1].startswith("done: starting the local emulator") and " after " in lines[1]
    assert "\x1b" not in up.stderr  # no control characters in a CI log


def test_on_a_terminal_a_spinner_with_elapsed_time(env: dict[str, str]):
    primary, secondary = pty.openpty()
    try:
        up = subprocess.run([*VXDEPLOY, "local", "up"], env=env, stdout=subprocess.DEVNULL,
                            stderr=secondary, timeout=120)
        os.close(secondary)
        secondary = -1
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if secondary >= 0:
            os.close(secondary)
        os.close(primary)
    text = seen.decode(errors="replace")
    assert up.returncode == 0, text
    assert "starting the local emulator — restoring its deployed models" in text
    assert "(0s)" in text  # the elapsed time next to what is awaited
    assert "\x1b[" in text  # drawn and redrawn in place, not printed line by line
    assert "waiting:" not in text
