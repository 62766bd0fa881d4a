"""`vxdeploy package`: compiled artifacts (AOTInductor, torch.compile) from a model folder.

The work runs in a child process (`python -m vxserve.package` with `containers/common` on
PYTHONPATH), as `model check` does: vxdeploy never imports torch, and the code that
compiles is the same vxserve code that loads the result in every container, so a package
that passes here loads there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxdeploy.errors import InvalidInputError, VxError
from vxdeploy.profile.problems import Problem

MODES = ("aoti", "compile")
PACKAGE_TIMEOUT_S = 1800.0  # AOTInductor runs a C++ compiler: minutes for a big model


@dataclass
class PackageResult:
    """The child's report: where the artifacts went, how long it took, how close to eager."""

    ok: bool
    mode: str
    source: str
    out: str
    format: str = ""
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    max_abs_diff: float = 0.0
    problems: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class PackageError(InvalidInputError):
    """The model or its example instances cannot be compiled (exit code 2)."""

    def __init__(self, result: PackageResult):
        self.result = result
        self.problems = [Problem(p.get("file", ""), p.get("field", ""), p.get("message", ""),
                                 p.get("allowed", "")) for p in result.problems]
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"cannot package {result.source} with --compile {result.mode}:\n{lines}",
                         hint="fix the file or field named above, then run `vxdeploy package` "
                         "again")

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["problems"] = [p.to_dict() for p in self.problems]
        return body


def default_out(source: Path, mode: str) -> Path:
    """`<model folder>-<mode>` beside the model folder."""
    source = Path(source).resolve()
    return source.with_name(f"{source.name}-{mode}")


def package_model(source: Path, mode: str, out: Path | None = None, *,
                  instances: Path | None = None, torch_threads: int = 0,
                  timeout_s: float = PACKAGE_TIMEOUT_S) -> PackageResult:
    """Compile the model in `source` into `out`; raises PackageError for the user's mistakes."""
    from vxdeploy.emulator.runtime.manifest import containers_dir
    from vxdeploy.modelcheck import loaders_installed

    if mode not in MODES:
        raise InvalidInputError(f"--compile {mode!r} is not a compile mode",
                                hint=f"allowed: {', '.join(MODES)}")
    source = Path(source)
    if not (source / "vxserve.json").exists() and not source.is_dir():
        raise InvalidInputError(f"{source}: not a model folder",
                                hint="give the folder holding the model and vxserve.json")
    if not loaders_installed():
        raise VxError("vxdeploy package needs torch on this machine",
                      hint="pip install 'vxdeploy[local]'")
    target = Path(out) if out is not None else default_out(source, mode)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_"))}
    env.update(PYTHONPATH=str(containers_dir() / "common"), PYTHONUNBUFFERED="1",
               CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    for name in ("VXSERVE_COMPILE_CACHE_DIR",):
        if name in os.environ:
            env[name] = os.environ[name]
    if torch_threads > 0:
        env["VXSERVE_TORCH_THREADS"] = str(torch_threads)
    command = [sys.executable, "-m", "vxserve.package", str(source.resolve()),
               str(target.resolve()), "--compile", mode]
    if instances is not None:
        command += ["--instances", str(Path(instances).resolve())]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise VxError(f"packaging {source} did not finish within {timeout_s:g} s") from None
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise VxError(f"packaging {source} failed (exit {done.returncode}):\n{tail}") from None
    known = PackageResult.__dataclass_fields__
    result = PackageResult(**{k: v for k, v in report.items() if k in known})
    if not result.ok:
        raise PackageError(result)
    return result
