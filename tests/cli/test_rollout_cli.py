"""`vxdeploy rollout` parsing and input errors, through the real console script.

Everything here fails before any client is built, so no emulator is needed; the commands
against a live endpoint are covered end to end in tests/rollout/test_e2e_emulator.py.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("args", "fragment"), [
    (("rollout", "90/11", "--profile", "local"), "sums to 101"),
    (("rollout", "ninety", "--profile", "local"), "is not STABLE/CANDIDATE"),
    (("rollout", "--to", "101", "--profile", "local"), "--to 101 is not a whole percent"),
    (("rollout", "90/10", "--to", "10", "--profile", "local"), "not both"),
    (("rollout", "set", "--profile", "local"), "not neither"),
])
def test_bad_split_is_invalid_input_naming_the_allowed_form(vx, args, fragment) -> None:
    result = vx(*args, "--output", "json")
    assert result.code == 2, result.stderr
    document = result.json()
    assert document["exit_code"] == 2 and fragment in document["message"]


def test_bad_split_for_people_goes_to_stderr(vx) -> None:
    result = vx("rollout", "50/49", "--profile", "local")
    assert result.code == 2 and result.stdout == ""
    assert "sums to 99" in result.stderr and "e.g. 90/10" in result.stderr


def test_group_help_lists_the_subcommands(vx) -> None:
    result = vx("rollout", "--help")
    assert result.code == 0
    for name in ("set", "status", "promote", "abort", "run"):
        assert name in result.stdout


def test_run_refuses_a_manual_policy_before_connecting(vx) -> None:
    result = vx("rollout", "run", "--profile", "local", "--set", "rollout.strategy=manual",
                "-o", "json")
    assert result.code == 2, result.stderr
    assert "'manual'" in result.json()["message"]


def test_run_refuses_malformed_steps(vx) -> None:
    result = vx("rollout", "run", "--profile", "local", "--set", "rollout.steps=[50,10]",
                "-o", "json")
    assert result.code == 2, result.stderr
    assert "rollout.steps" in result.json()["message"]


def test_unknown_profile_is_reported(vx) -> None:
    result = vx("rollout", "status", "--profile", "nope", "-o", "json")
    assert result.code == 2 and "nope" in result.json()["message"]
