"""Table tests for the pure traffic math."""

from __future__ import annotations

import pytest

from vxdeploy.errors import ExitCode, InvalidInputError
from vxdeploy.profile.model import RolloutPolicy
from vxdeploy.traffic import parse_split, split_for, steps_for


@pytest.mark.parametrize(("text", "expected"), [
    ("90/10", (90, 10)),
    ("100/0", (100, 0)),
    ("0/100", (0, 100)),
    (" 50 / 50 ", (50, 50)),
    ("1/99", (1, 99)),
])
def test_parse_split_accepts(text: str, expected: tuple[int, int]) -> None:
    assert parse_split(text) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("90/11", "sums to 101"),
    ("50/49", "sums to 99"),
    ("110/-10", "not STABLE/CANDIDATE"),
    ("90", "not STABLE/CANDIDATE"),
    ("90:10", "not STABLE/CANDIDATE"),
    ("90.5/9.5", "not STABLE/CANDIDATE"),
    ("", "not STABLE/CANDIDATE"),
    ("a/b", "not STABLE/CANDIDATE"),
    ("200/0", "sums to 200"),
    ("90/10/0", "not STABLE/CANDIDATE"),
])
def test_parse_split_rejects_with_allowed_form(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_split(text)
    assert fragment in info.value.message
    assert "e.g. 90/10" in info.value.message
    assert info.value.exit_code is ExitCode.INVALID_INPUT


@pytest.mark.parametrize(("percent", "expected"), [
    (10, {"s": 90, "c": 10}),
    (0, {"s": 100, "c": 0}),
    (100, {"s": 0, "c": 100}),
])
def test_split_for_keeps_both_keys(percent: int, expected: dict[str, int]) -> None:
    split = split_for("s", "c", percent)
    assert split == expected
    assert sum(split.values()) == 100


@pytest.mark.parametrize(("stable", "candidate", "percent", "fragment"), [
    ("s", "s", 10, "same deployed model"),
    ("", "c", 10, "both a stable and a candidate"),
    ("s", "c", 101, "between 0 and 100"),
    ("s", "c", -1, "between 0 and 100"),
    ("s", "c", 12.5, "whole percent"),
])
def test_split_for_rejects(stable: str, candidate: str, percent: float, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        split_for(stable, candidate, percent)  # type: ignore[arg-type]


@pytest.mark.parametrize(("strategy", "steps", "expected"), [
    ("all-at-once", [10, 100], [100]),
    ("manual", [10, 100], [0]),
    ("canary", [10, 100], [10, 100]),
    ("canary", [5], [5, 100]),
    ("canary", [20, 50, 100], [20, 100]),
    ("linear", [10, 25, 50, 100], [10, 25, 50, 100]),
    ("linear", [10, 50], [10, 50, 100]),
    ("linear", [100], [100]),
    ("linear", [], [100]),
    ("linear", [10.0, 50.0, 100.0], [10, 50, 100]),
])
def test_steps_for(strategy: str, steps: list[float], expected: list[int]) -> None:
    result = steps_for(RolloutPolicy(strategy=strategy, steps=steps))
    assert result == expected
    assert all(isinstance(step, int) for step in result)


@pytest.mark.parametrize(("strategy", "steps", "fragment"), [
    ("linear", [50, 10, 100], "rise strictly"),
    ("linear", [10, 10, 100], "rise strictly"),
    ("linear", [0, 50, 100], "may not contain 0"),
    ("linear", [12.5, 100], "rollout.steps entry 12.5 is not a whole percent"),
    ("canary", [100], "first step below 100"),
])
def test_steps_for_rejects(strategy: str, steps: list[float], fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        steps_for(RolloutPolicy(strategy=strategy, steps=steps))
