"""The TensorRT image's build files follow the house conventions (no Docker needed)."""

from __future__ import annotations

import re
import tomllib

from ..serverproc import CONTAINERS

FOLDER = CONTAINERS / "tensorrt"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (FOLDER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.partition(" ")[2]) for line in lines
            if line and not line.startswith("#")]


def test_dockerfile_conventions() -> None:
    steps = instructions()
    keywords = [k for k, _ in steps]
    assert steps[0][0] == "ARG" and steps[0][1].startswith("BASE_IMAGE=")
    base = steps[0][1].split("=", 1)[1]
    assert ":" in base and not base.endswith(":latest"), "the default base must be pinned"
    assert steps[1] == ("FROM", "${BASE_IMAGE}")
    labels = " ".join(v for k, v in steps if k == "LABEL")
    assert 'ai.vxdeploy.container="tensorrt"' in labels
    assert 'ai.vxdeploy.predict-route="/predict"' in labels
    assert 'ai.vxdeploy.health-route="/health"' in labels
    assert ("EXPOSE", "8080") in steps
    users = [v for k, v in steps if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    copies = [v for k, v in steps if k == "COPY"]
    requirements = next(i for i, v in enumerate(copies) if v.startswith("requirements.txt"))
    code = next(i for i, v in enumerate(copies) if v.startswith("vxtrt/"))
    assert requirements < code, "dependencies must be layered before the code"
    assert any(v.startswith("vxserve/") for v in copies)
    assert keywords[-1] == "CMD" and "vxtrt" in steps[-1][1]


def test_requirements_are_pinned_and_include_the_fallback_backend() -> None:
    lines = [line for line in (FOLDER / "requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    # onnx comes with the NGC base (pinned by its pip constraints): a floor, not a pin.
    assert all("==" in line or line.startswith("onnx>=") for line in lines), lines
    assert any(line.startswith("onnxruntime==") for line in lines)


def test_manifest_and_dockerignore() -> None:
    manifest = tomllib.loads((FOLDER / "container.toml").read_text())
    assert manifest["name"] == "tensorrt"
    assert manifest["process"]["command"] == ["{python}", "-m", "vxtrt"]
    assert manifest["process"]["ready_timeout_s"] > 0
    ignored = (FOLDER / ".dockerignore").read_text()
    assert "**/__pycache__" in ignored
