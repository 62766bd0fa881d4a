"""`vxdeploy plan --out FILE` then `vxdeploy deploy --plan FILE`, against the local emulator.

A saved plan applies while it is still true; once the live endpoint moved on (traffic, a
new version, the endpoint deleted) it is refused with exit 4 and a message saying why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROFILES, SENTIMENT_ARTIFACTS
from vxdeploy.cli import main

pytestmark = pytest.mark.slow
V2 = str(SENTIMENT_ARTIFACTS / "torchscript-v2")


def vx(capsys: pytest.CaptureFixture[str], *args: str,
       profile: bool = True) -> tuple[int, Any, str]:
    """Run `vxdeploy ARGS -p local -o json` in-process (without `-p local` unless
    `profile`); returns (exit code, JSON, stderr)."""
    capsys.readouterr()
    code = 0
    try:
        main([*args, *(("-p", "local") if profile else ()), "--profiles-dir", str(PROFILES),
              "-o", "json"])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def sets(name: str, *extra: str) -> list[str]:
    return [f"--set=endpoint.name={name}", "--set=alerts.enabled=false",
            *(f"--set={s}" for s in extra)]


def test_a_fresh_saved_plan_applies_exactly_and_leaves_nothing_to_do(
        local_vertex, capsys, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    code, planned, err = vx(capsys, "plan", "--out", str(saved), *sets("sp-fresh"))
    assert code == 0, err
    code, applied, err = vx(capsys, "deploy", "--plan", str(saved), "--yes", *sets("sp-fresh"))
    assert code == 0, err
    assert [c["action"] for c in applied["applied"]] == \
        [c["action"] for c in planned["changes"]] == \
        ["create-endpoint", "upload-model", "deploy-model", "set-aliases"]
    code, _, err = vx(capsys, "plan", "--detailed-exitcode", *sets("sp-fresh"))
    assert code == 0, err


def test_a_saved_plan_applies_without_the_profile(local_vertex, capsys, tmp_path) -> None:
    """Everything the changes need (the artifacts, the machines, where) is in the plan."""
    saved = tmp_path / "plan.json"
    made = sets("sp-alone", f"model.artifact_uri={V2}", "machine.max_replicas=2")
    assert vx(capsys, "plan", "--out", str(saved), *made)[0] == 0
    code, applied, err = vx(capsys, "deploy", "--plan", str(saved), "--yes", profile=False)
    assert code == 0, err
    assert applied["mutating_calls"] >= 4
    code, planned, err = vx(capsys, "plan", *made)
    assert code == 0 and planned["changes"] == [], err
    code, status, err = vx(capsys, "status", *sets("sp-alone"))
    assert status["deployed_models"][0]["max_replicas"] == 2, err


def test_a_saved_plan_for_another_endpoint_than_the_profile_is_invalid(
        local_vertex, capsys, tmp_path) -> None:
    saved = tmp_path / "plan.json"
    assert vx(capsys, "plan", "--out", str(saved), *sets("sp-one"))[0] == 0
    code, document, _ = vx(capsys, "deploy", "--plan", str(saved), "--yes", *sets("sp-two"))
    assert code == 2 and "sp-two" in document["message"]


def stale(capsys, saved: Path, name: str, *extra: str) -> str:
    """Applying the saved plan (with no profile: the plan alone decides) is refused."""
    code, document, err = vx(capsys, "deploy", "--plan", str(saved), "--yes", profile=False)
    assert code == 4, err
    assert document["exit_code"] == 4 and "stale" in document["message"]
    return str(document["message"])


def test_stale_saved_plans_are_refused_with_exit_4(local_vertex, capsys, tmp_path: Path) -> None:
    name = "sp-stale"
    assert vx(capsys, "deploy", "--yes", *sets(name))[0] == 0
    grow = "machine.max_replicas=2"

    # a new version deployed after the plan was made
    saved = tmp_path / "before-v2.json"
    assert vx(capsys, "plan", "--out", str(saved), *sets(name, grow))[0] == 0
    code, _, err = vx(capsys, "deploy", "--yes", *sets(name, f"model.artifact_uri={V2}"))
    assert code == 0, err
    message = stale(capsys, saved, name, grow)
    assert "changed since the plan was made" in message

    # traffic moved after the plan was made (the candidate is at 10 %)
    saved = tmp_path / "before-traffic.json"
    v2 = [f"model.artifact_uri={V2}", grow]
    assert vx(capsys, "plan", "--out", str(saved), *sets(name, *v2))[0] == 0
    code, _, err = vx(capsys, "rollout", "set", "50/50", *sets(name))
    assert code == 0, err
    assert "traffic split" in stale(capsys, saved, name, *v2)

    # the endpoint deleted after the plan was made
    saved = tmp_path / "before-delete.json"
    assert vx(capsys, "plan", "--out", str(saved), *sets(name, *v2))[0] == 0
    code, _, err = vx(capsys, "destroy", "--yes", *sets(name))
    assert code == 0, err
    assert "was deleted" in stale(capsys, saved, name, *v2)


def test_a_file_that_is_not_a_plan_is_invalid_input(local_vertex, capsys, tmp_path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("{\"changes\": 3}")
    code, document, _ = vx(capsys, "deploy", "--plan", str(bad), "--yes", *sets("sp-bad"))
    assert code == 2 and str(bad) in document["message"]
