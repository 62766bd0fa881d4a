"""Run the real `vxdeploy` console script, as a person or CI would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROFILES


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


@pytest.fixture
def vx(tmp_path: Path):
    """`vx("profiles", "validate")` runs `python -m vxdeploy` in a clean environment."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            cwd: Path | None = None) -> Result:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("VXDEPLOY_")}
        environ.setdefault("VXDEPLOY_PROFILES_DIR", str(PROFILES))
        environ["VXDEPLOY_HOME"] = str(tmp_path / "home")
        environ["COLUMNS"] = "200"
        environ.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "vxdeploy", *args], capture_output=True,
                              text=True, env=environ, input=stdin, timeout=120, cwd=cwd)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
