"""scripts/docker is idempotent: bringing up what already runs changes nothing, quickly."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker]

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "docker"
STATE = Path(os.environ.get("VXDEPLOY_DOCKER_STATE", "/var/tmp/vxdeploy-docker"))


def test_up_again_reuses_engine_registry_and_base(engine):
    if engine.host != f"unix://{STATE}/docker.sock":
        pytest.skip(f"the engine at {engine.host} was not started by scripts/docker")
    env_file = STATE / "env"
    before = env_file.read_text()
    pid = (STATE / "dockerd.pid").read_text().strip()
    started = time.monotonic()
    proc = subprocess.run([str(SCRIPTS / "up.sh")], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert env_file.read_text() == before  # same engine, registry address and base image
    assert (STATE / "dockerd.pid").read_text().strip() == pid  # not restarted
    assert elapsed < 30, f"up.sh took {elapsed:.1f}s with everything already up"
