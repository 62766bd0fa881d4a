"""After `vxdeploy local down`, a deploy that finds nothing to change followed at once by
`predict` works: the next emulator restores its deployed models before it reports ready."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROFILES, REPO, SENTIMENT_ARTIFACTS

pytestmark = pytest.mark.slow
INSTANCES = REPO / "examples" / "sentiment" / "instances.json"


def test_down_then_unchanged_deploy_then_predict(tmp_path: Path):
    assert (SENTIMENT_ARTIFACTS / "torchscript").is_dir(), "run `make example` first"
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(tmp_path / "state"),
               VXDEPLOY_PROFILES_DIR=str(PROFILES))

    def vx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vxdeploy", *args, "-o", "json"], env=env,
                              capture_output=True, text=True, timeout=300)

    deploy = [*("deploy", "-p", "local", "--yes", "--set=endpoint.name=restore")]
    try:
        first = vx(*deploy)
        assert first.returncode == 0, first.stderr
        # The deploy really deployed (the "waiting: deploy model" line is no proof: a wait
        # under waiting.QUIET_S prints nothing by design, and a quick deploy made it flaky).
        assert "deploy-model" in [c["action"] for c in json.loads(first.stdout)["changes"]]
        assert vx("local", "down").returncode == 0
        again = vx(*deploy)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["changes"] == []
        answer = vx("predict", "-p", "local", "--set=endpoint.name=restore", "-i", str(INSTANCES))
        assert answer.returncode == 0, answer.stderr
        assert "not serving yet" not in answer.stderr  # served at once, no retry needed
        assert len(json.loads(answer.stdout)["predictions"]) == 4
    finally:
        vx("local", "down")
