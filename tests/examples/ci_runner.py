"""Run the steps of a GitHub Actions workflow or a Cloud Build config on this machine.

Enough of each service's semantics to catch what breaks an example: GitHub's step order,
`if:` on `github.ref`, `env` layering, `${{ steps.ID.outputs.NAME }}` from `$GITHUB_OUTPUT`
and `bash -e` for `run:`; Cloud Build's substitutions (`$NAME`, `${NAME}`, `$$` for a
literal `$`, and a failed build on an unknown name), `options.env`, one shared workspace
and each step's `entrypoint` + `args`. Cloud-only pieces are replaced by local equivalents
the caller passes as environment variables; `uses:` actions (checkout, auth, uploads) have
no local meaning and are returned so the caller can check they are the expected ones.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_OUTPUT = re.compile(r"^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$")
_IF_REF = re.compile(r"^github\.ref\s*==\s*'([^']*)'$")
_SUBST = re.compile(r"\$\$|\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)")
CLOUD_BUILD_BUILTINS = ("PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "TRIGGER_NAME",
                        "COMMIT_SHA", "SHORT_SHA", "REVISION_ID", "BRANCH_NAME", "TAG_NAME",
                        "REPO_NAME", "REPO_FULL_NAME", "SERVICE_ACCOUNT_EMAIL",
                        "SERVICE_ACCOUNT")


class StepFailed(AssertionError):
    pass


@dataclass
class Run:
    """What a run did, for the caller's assertions."""

    ran: list[str] = field(default_factory=list)
    skipped_actions: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _shell(script: list[str], env: dict[str, str], cwd: Path, name: str, run: Run,
           timeout_s: float) -> None:
    started = time.monotonic()
    done = subprocess.run(script, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout_s, stdin=subprocess.DEVNULL)
    run.logs[name] = done.stdout + done.stderr
    run.seconds[name] = time.monotonic() - started
    if done.returncode != 0:
        raise StepFailed(f"step {name!r} exited {done.returncode}:\n--- stdout\n"
                         f"{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
    run.ran.append(name)


def run_github_workflow(path: Path, *, workspace: Path, base_env: dict[str, str],
                        overrides: dict[str, str], ref: str = "refs/heads/main",
                        timeout_s: float = 300) -> Run:
    """Run every job's steps in order, as a push to `ref` would."""
    workflow = yaml.safe_load(path.read_text())
    run = Run()
    for job_name, job in workflow["jobs"].items():
        for index, step in enumerate(job["steps"]):
            name = step.get("id") or step.get("name") or f"{job_name}[{index}]"
            if not _github_if(step.get("if"), ref):
                continue
            if "uses" in step:
                run.skipped_actions.append(step["uses"])
                continue
            script = step["run"]
            if "${{" in script:
                raise StepFailed(f"step {name!r}: pass expressions through env, not inline in "
                                 "run (a value with quotes would break, or inject into, bash)")
            env = {**base_env, **_github_env(workflow.get("env"), run), **overrides,
                   **_github_env(job.get("env"), run), **_github_env(step.get("env"), run)}
            output_file = workspace / f".github-output-{index}"
            output_file.write_text("")
            env.update(GITHUB_OUTPUT=str(output_file), GITHUB_REF=ref, CI="true",
                       GITHUB_WORKSPACE=str(workspace))
            script_file = workspace / f".github-step-{index}.sh"
            script_file.write_text(script)
            _shell(["bash", "-e", str(script_file)], env, workspace, name, run, timeout_s)
            if "id" in step:
                run.outputs[step["id"]] = dict(
                    line.split("=", 1) for line in output_file.read_text().splitlines()
                    if "=" in line)
    return run


def _github_if(condition: Any, ref: str) -> bool:
    if condition is None:
        return True
    match = _IF_REF.match(str(condition).strip())
    if match is None:
        raise StepFailed(f"if: {condition!r} is not understood by this runner")
    return ref == match.group(1)


def _github_env(env: dict[str, Any] | None, run: Run) -> dict[str, str]:
    def value(expr: re.Match[str]) -> str:
        match = _OUTPUT.match(expr.group(1))
        if match is None:
            raise StepFailed(f"expression {expr.group(0)!r} is not understood by this runner")
        step_id, output = match.groups()
        if output not in run.outputs.get(step_id, {}):
            raise StepFailed(f"{expr.group(0)}: step {step_id!r} set no output {output!r}")
        return run.outputs[step_id][output]

    return {k: _EXPR.sub(value, str(v)) for k, v in (env or {}).items()}


def substitute(text: str, substitutions: dict[str, str]) -> str:
    """Cloud Build's substitution: `$$` is `$`; an unknown `$NAME` fails the build."""
    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name not in substitutions:
            raise StepFailed(f"Cloud Build would fail: ${name} in {text[:80]!r} is not a "
                             "substitution (write $$ for a literal $)")
        return substitutions[name]

    return _SUBST.sub(value, text)


def run_cloud_build(path: Path, *, workspace: Path, base_env: dict[str, str],
                    substitutions: dict[str, str], timeout_s: float = 300) -> Run:
    """Run every step in order in one shared workspace."""
    config = yaml.safe_load(path.read_text())
    subs = {name: f"local-{name.lower()}" for name in CLOUD_BUILD_BUILTINS}
    subs.update({k: str(v) for k, v in (config.get("substitutions") or {}).items()})
    subs.update(substitutions)
    options_env = [substitute(e, subs) for e in (config.get("options") or {}).get("env", [])]
    for location in ((config.get("artifacts") or {}).get("objects") or {}).get("location", ""),:
        substitute(location, subs)  # an unknown name here fails the build too
    # Cloud Build substitutes the whole config before the first step runs: an unknown
    # name anywhere fails the build with nothing run.
    prepared = []
    for index, step in enumerate(config["steps"]):
        env = dict(base_env)
        for entry in options_env + [substitute(e, subs) for e in step.get("env", [])]:
            key, _, val = entry.partition("=")
            env[key] = val
        args = [substitute(a, subs) for a in step.get("args", [])]
        entrypoint = step.get("entrypoint")
        command = [entrypoint, *args] if entrypoint else args
        prepared.append((step.get("id") or f"step-{index}", command, env, step.get("dir", "")))
    run = Run()
    for name, command, env, folder in prepared:
        _shell(command, env, workspace / folder, name, run, timeout_s)
    return run
