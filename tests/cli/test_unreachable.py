"""An API that goes away mid-command: exit 8 with one line and a hint, never a traceback.

The emulator daemon is killed (SIGKILL) while `vxdeploy deploy` waits for its model server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PROFILES, SENTIMENT_ARTIFACTS

VXDEPLOY = [sys.executable, "-m", "vxdeploy"]


def _env(state: Path) -> dict[str, str]:
    return dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state),
                VXDEPLOY_PROFILES_DIR=str(PROFILES))


def test_deploy_whose_emulator_is_killed_exits_8_with_a_hint(tmp_path: Path):
    assert (SENTIMENT_ARTIFACTS / "torchscript").is_dir(), "run `make example` first"
    state = tmp_path / "state"
    deploy = subprocess.Popen(
        [*VXDEPLOY, "deploy", "-p", "local", "--yes", "--set=endpoint.name=unreachable"],
        env=_env(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((state / "logs").glob("*.log")):  # DeployModel is starting a server
            assert deploy.poll() is None, deploy.communicate()
            assert time.monotonic() < deadline, "the deploy never started a model server"
            time.sleep(0.05)
        daemon = json.loads((state / "emulator.json").read_text())["pid"]
        os.kill(daemon, signal.SIGKILL)
        _out, err = deploy.communicate(timeout=120)
        # What the hint says: the same command again starts the emulator and finishes.
        rerun = subprocess.run(
            [*VXDEPLOY, "deploy", "-p", "local", "--yes", "--set=endpoint.name=unreachable"],
            env=_env(state), capture_output=True, text=True, timeout=300)
    finally:
        if deploy.poll() is None:
            deploy.kill()
        subprocess.run([*VXDEPLOY, "local", "down"], env=_env(state), timeout=120,
                       capture_output=True)
    assert deploy.returncode == 8, err
    assert "Traceback" not in err and "requests.exceptions" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "local emulator" in line and "stopped answering" in line
    assert "hint: run the same command again" in err
    assert rerun.returncode == 0, rerun.stderr
    assert "Applied" in rerun.stderr
