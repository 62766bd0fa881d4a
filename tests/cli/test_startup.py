"""`vxdeploy --help` and `profiles validate` must not import the SDK, gRPC, torch or docker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROFILES

HEAVY = ("google.cloud.aiplatform", "google.cloud.aiplatform_v1", "google.cloud.aiplatform_v1beta1",
         "google.cloud.monitoring_v3", "grpc", "torch", "docker")

PROBE = """
import json, sys
from vxdeploy.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in %r if m in sys.modules]
sys.stderr.write("HEAVY=" + json.dumps(heavy) + "\\n")
"""


@pytest.mark.parametrize("args", [["--help"], ["profiles", "validate"], ["rollout", "--help"],
                                  ["deploy", "--help"]])
def test_no_heavy_imports(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), *args], capture_output=True,
                          text=True, timeout=60,
                          env={"VXDEPLOY_PROFILES_DIR": str(PROFILES), "PATH": "/usr/bin"})
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY="))
    assert json.loads(line.removeprefix("HEAVY=")) == []
