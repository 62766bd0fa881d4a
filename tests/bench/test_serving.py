"""bench/serving.py's own correctness: a run never overlaps another server's backlog."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A process tree that goes on burning CPU after "the load" stopped: a child spins until it
# has used 0.6 s of CPU, then writes a marker and sleeps (idle, still alive).
BACKLOG = """
import pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import pathlib, sys, time
while time.process_time() < 0.6:
    pass
pathlib.Path(sys.argv[1]).write_text("done")
time.sleep(60)
''', sys.argv[1]])
child.wait()
"""


def _serving():
    spec = importlib.util.spec_from_file_location("bench_serving", REPO / "bench" / "serving.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_next_run_waits_until_the_last_server_has_finished_its_backlog(tmp_path) -> None:
    serving = _serving()
    marker = tmp_path / "backlog-done"
    proc = subprocess.Popen([sys.executable, "-c", BACKLOG, str(marker)])
    try:
        cpu_before = serving._group_stats(proc.pid)[0]
        serving.wait_quiet(proc.pid, limit_s=30)
        assert marker.exists(), "returned while the tree was still busy with its backlog"
        assert serving._group_stats(proc.pid)[0] - cpu_before >= 0.5
    finally:
        proc.kill()
        proc.wait()


def test_an_idle_server_is_not_waited_for(tmp_path) -> None:
    serving = _serving()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        serving._group_stats(proc.pid)  # the interpreter's start-up is over by now
        assert serving.wait_quiet(proc.pid, limit_s=30) < 5
    finally:
        proc.kill()
        proc.wait()


# A Python process whose child is not Python (as TorchServe's JVM under the container's
# front): the child, a shell, spins until it has used 0.5 s of CPU, then waits.
MIXED = """
import subprocess, sys, time
child = subprocess.Popen(["/bin/sh", "-c", sys.argv[1]])
child.wait()
"""
SPIN_SHELL = (
    'i=0; while [ $i -lt 20000000 ]; do i=$((i+1)); '
    'if [ $((i % 20000)) -eq 0 ] && [ "$(cut -d" " -f14 /proc/$$/stat)" -ge 50 ]; then break; fi; '
    'done; touch "$1"; sleep 60'
)


def test_the_cpu_outside_python_is_told_apart_from_the_pythons(tmp_path) -> None:
    """`--profile` splits only the Python processes' CPU over py-spy's stages; the JVM's CPU
    must be counted apart, not spread over them."""
    serving = _serving()
    marker = tmp_path / "spun"
    script = SPIN_SHELL.replace('"$1"', f'"{marker}"')
    proc = subprocess.Popen([sys.executable, "-c", MIXED, script])
    try:
        for _ in range(300):
            if marker.exists():
                break
            time.sleep(0.1)
        assert marker.exists(), "the shell never finished spinning"
        total, outside = serving._cpu_split(proc.pid)
        assert outside >= 0.45, f"the shell's CPU was not counted outside Python: {outside}"
        assert total - outside < 0.45, "the Python parent was charged the shell's CPU"
    finally:
        proc.kill()
        proc.wait()
