"""The flask build context: Dockerfile, requirements, manifest, and how the server starts."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

from .server import COMMON, CONTAINER, manifest_command


def _dockerfile() -> str:
    return (CONTAINER / "Dockerfile").read_text()


def test_dockerfile_takes_a_pinned_base_and_runs_unprivileged() -> None:
    text = _dockerfile()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    arg = next(line for line in lines if line.startswith("ARG BASE_IMAGE="))
    assert re.fullmatch(r"ARG BASE_IMAGE=[\w./-]+:[\w.-]+", arg)  # a tag, not "latest"
    assert not arg.endswith(":latest")
    assert "FROM ${BASE_IMAGE}" in lines
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] != "USER root"
    assert "EXPOSE 8080" in lines


def test_dockerfile_layers_dependencies_before_code_and_copies_vxserve() -> None:
    text = _dockerfile()
    install = text.index("pip install -r /app/requirements.txt")
    assert text.index("COPY requirements.txt") < install < text.index("COPY vxserve/")
    assert install < text.index("COPY container.toml")


def test_dockerfile_labels_say_what_vxdeploy_reads() -> None:
    text = _dockerfile()
    for label in (
        'ai.vxdeploy.container="flask"',
        'ai.vxdeploy.predict-route="/predict"',
        'ai.vxdeploy.health-route="/health"',
    ):
        assert label in text


def test_requirements_leave_torch_to_the_base_image() -> None:
    names = [
        re.split(r"[=<>\[ ]", line.strip())[0].lower()
        for line in (CONTAINER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "torch" not in names
    # httptools and uvloop: without them uvicorn parses HTTP in Python (several times the CPU).
    assert {"starlette", "uvicorn", "httptools", "uvloop", "prometheus-client",
            "google-cloud-storage"} <= set(names)
    assert (CONTAINER / ".dockerignore").is_file()


def test_manifest_runs_the_vxserve_server() -> None:
    spec = tomllib.loads((CONTAINER / "container.toml").read_text())
    assert spec["name"] == "flask"
    assert spec["process"]["command"] == ["{python}", "-m", "vxserve"]
    assert spec["process"]["ready_timeout_s"] > 0
    assert 'CMD ["python3", "-m", "vxserve"]' in _dockerfile()


def test_the_server_parses_http_in_c(start_server, sentiment: Path) -> None:
    """uvicorn falls back to pure-Python parsing when httptools/uvloop are missing: the same
    answers at ~3x the CPU per request, so the start-up line says which it runs."""
    server = start_server(sentiment / "torchscript")
    server.wait_ready()
    assert "serving on 127.0.0.1:" in server.log()
    assert "(http httptools, loop uvloop)" in server.log()


def test_a_bad_setting_stops_the_start_with_exit_2(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_"))},
        "PYTHONPATH": os.pathsep.join([str(CONTAINER), str(COMMON)]),
        "AIP_HTTP_PORT": "eighty",
    }
    result = subprocess.run(
        manifest_command(), cwd=CONTAINER, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "AIP_HTTP_PORT" in result.stderr and "Traceback" not in result.stderr
