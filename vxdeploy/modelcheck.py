"""Check a model's artifacts with the chosen container's own loader, on this machine.

A deploy finds out that artifacts are incomplete (no factory for a state dict, no labels
file, a handler for the wrong container) only when the server's health check fails,
minutes later. `check_model` runs the container's loader first, in a child process
(`python -m vxserve.check` with the container's folder and `containers/common` on
PYTHONPATH): vxdeploy never imports torch or the serving code itself, and the serving
code never imports vxdeploy, so what is checked is exactly what the server will run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from vxdeploy.errors import InvalidInputError, VxError
from vxdeploy.names import BUNDLED_CONTAINERS
from vxdeploy.output import Output
from vxdeploy.profile.model import Profile
from vxdeploy.profile.problems import Problem

CHECKED_CONTAINERS = BUNDLED_CONTAINERS
CHECK_TIMEOUT_S = 600.0  # a big model on a slow disk; the usual check takes seconds


@dataclass
class ModelCheck:
    """The child's report: what loaded, how fast, the example predictions, the problems."""

    ok: bool
    container: str
    directory: str
    mode: str = ""
    format: str = ""
    handler: str = ""
    load_s: float = 0.0
    predict_s: float = 0.0
    instances: int = 0
    predictions: list[Any] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [_problem(p) for p in self.problems if p.get("severity") != "warning"]

    @property
    def warnings(self) -> list[Problem]:
        return [_problem(p) for p in self.problems if p.get("severity") == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class ModelCheckError(InvalidInputError):
    """The artifacts would not load or answer in the chosen container (exit code 2)."""

    def __init__(self, result: ModelCheck):
        self.result = result
        lines = "\n".join(f"  - {p}" for p in result.errors)
        super().__init__(
            f"the {result.container} container cannot serve {result.directory}:\n{lines}",
            hint="fix the files named above, then run `vxdeploy model check` again",
        )

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["problems"] = [p.to_dict() for p in self.result.errors]
        return body


def loaders_installed() -> bool:
    """Whether the containers' loaders can run here (found without importing torch)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def local_artifact_dir(uri: str) -> Path | None:
    """The local folder an artifact URI names, or None for Cloud Storage (not checked here)."""
    if not uri or uri.startswith("gs://"):
        return None
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


def check_model(directory: Path, container: str, *, instances: Path | None = None,
                containers: Path | None = None,
                timeout_s: float = CHECK_TIMEOUT_S) -> ModelCheck:
    """Run the container's loader on `directory` and return its report (never raises for
    problems in the artifacts: those are in the report; raises VxError when the check
    itself cannot run)."""
    from vxdeploy.emulator.runtime.manifest import containers_dir

    if container not in CHECKED_CONTAINERS:
        raise InvalidInputError(
            f"model check: container {container!r} has no bundled loader to check with",
            hint=f"allowed: {', '.join(CHECKED_CONTAINERS)} (a custom image loads its own way)")
    if not loaders_installed():
        raise VxError("model check needs the serving packages (torch, ...) on this machine",
                      hint="pip install 'vxdeploy[local]'")
    base = containers_dir(containers)
    path = os.pathsep.join(str(p) for p in (base / container, base / "common"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_"))}
    env.update(PYTHONPATH=path, PYTHONUNBUFFERED="1", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "vxserve.check", "--container", container,
               str(Path(directory).resolve())]
    if instances is not None:
        command += ["--instances", str(Path(instances).resolve())]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise VxError(f"model check of {directory} did not finish within {timeout_s:g} s") \
            from None
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise VxError(f"model check of {directory} failed (exit {done.returncode}):\n{tail}") \
            from None
    known = ModelCheck.__dataclass_fields__
    return ModelCheck(**{k: v for k, v in report.items() if k in known})


def preflight(profile: Profile, output: Output) -> ModelCheck | None:
    """`deploy`'s first step: check local artifacts with the profile's container.

    Cloud Storage artifacts and custom images are left alone (nothing here can load them
    the way the server will); a failure raises ModelCheckError (exit 2) before any call.
    """
    directory = local_artifact_dir(profile.model.artifact_uri)
    container = profile.model.container.value
    if directory is None or container not in CHECKED_CONTAINERS:
        return None
    if not loaders_installed():
        output.info("[yellow]warning:[/yellow] model check skipped: torch is not installed "
                    "here (pip install 'vxdeploy[local]' to check artifacts before deploying)")
        return None
    output.info(f"[dim]…[/dim] checking {directory} with the {container} loader "
                "(--skip-model-check skips)")
    result = check_model(directory, container)
    if not result.ok:
        raise ModelCheckError(result)
    output.info(f"[green]✓[/green] model check: loaded in {result.load_s:.2f} s, "
                f"{result.instances} example instance(s) answered")
    for warning in result.warnings:
        output.info(f"[yellow]warning:[/yellow] {warning}")
    return result


def _problem(raw: dict[str, str]) -> Problem:
    return Problem(raw.get("file", ""), raw.get("field", ""), raw.get("message", ""),
                   raw.get("allowed", ""))
