"""Table tests for the step state machine and the labels that carry it."""

from __future__ import annotations

import pytest

from vxdeploy.profile.model import RolloutPolicy
from vxdeploy.rollout.gates import GateResult, Verdict
from vxdeploy.rollout.machine import (
    StepTiming,
    advance,
    bake_for,
    candidate_share,
    needs_gates,
    start_index,
)
from vxdeploy.rollout_state import KEYS, Phase, RolloutState, merge_labels

PASS = GateResult(Verdict.PASS, "ok", "")
WAIT = GateResult(Verdict.WAIT, "baking", "")
FAIL = GateResult(Verdict.FAIL, "p99", "slow")
STEPS = [10, 25, 50, 100]
RUN = RolloutState(Phase.RUNNING, "1", "2", 0, 1000)


@pytest.mark.parametrize(("state", "result", "expected"), [
    (RUN, WAIT, RUN),
    (RUN, PASS, RUN.with_(step=1, since=2001)),
    (RUN.with_(step=2), PASS, RUN.with_(step=3, since=2001)),
    (RUN.with_(step=3), PASS, RUN.with_(phase=Phase.PROMOTED, step=3, since=2001)),
    (RUN, FAIL, RUN.with_(phase=Phase.ROLLED_BACK, since=2001, reason="p99")),
    (RUN.with_(step=3), FAIL, RUN.with_(phase=Phase.ROLLED_BACK, step=3, since=2001,
                                        reason="p99")),
    (RUN.with_(phase=Phase.ABORTED), PASS, RUN.with_(phase=Phase.ABORTED)),
])
def test_advance(state: RolloutState, result: GateResult, expected: RolloutState) -> None:
    assert advance(state, STEPS, result, 2000.4) == expected


@pytest.mark.parametrize(("state", "share"), [
    (RUN, 10), (RUN.with_(step=2), 50), (RUN.with_(phase=Phase.PROMOTED), 100),
    (RUN.with_(phase=Phase.ROLLED_BACK, step=2), 0), (RUN.with_(phase=Phase.ABORTED), 0),
])
def test_candidate_share(state: RolloutState, share: int) -> None:
    assert candidate_share(state, STEPS) == share


@pytest.mark.parametrize(("current", "index"), [
    (0, 0), (10, 0), (11, 1), (25, 1), (30, 2), (50, 2), (99, 3), (100, 3)])
def test_start_index_never_steps_traffic_back(current: int, index: int) -> None:
    assert start_index(STEPS, current) == index


def test_timing_waits_for_late_metrics_then_grace() -> None:
    timing = StepTiming(started_at=1000, bake_s=600, metrics_delay_s=180)
    assert timing.bake_ends_at == 1600
    assert not timing.window_complete(1779) and timing.window_complete(1780)
    assert not timing.deadline_passed(1959) and timing.deadline_passed(1960)
    assert timing.bake_left(1500) == 100 and timing.bake_left(1700) == 0
    instant = StepTiming(started_at=5, bake_s=2, metrics_delay_s=0)
    assert instant.decide_at == instant.deadline == 7


@pytest.mark.parametrize(("final_bake", "index", "bake", "gated"), [
    (0, 0, 30, True), (0, 3, 0, False), (5, 3, 5, True), (5, 2, 30, True)])
def test_final_bake_holds_the_100_step(final_bake: float, index: int, bake: float,
                                       gated: bool) -> None:
    policy = RolloutPolicy(strategy="linear", steps=STEPS, bake_time_s=30,
                           final_bake_s=final_bake)
    assert bake_for(policy, STEPS, index) == bake
    assert needs_gates(policy, STEPS, index) is gated


def test_state_round_trips_through_labels_and_keeps_foreign_labels() -> None:
    state = RolloutState(Phase.ROLLED_BACK, "123", "456", 2, 1_700_000_000, "error-rate")
    labels = merge_labels({"team": "ml", "vxdeploy-rollout-reason": "old"}, state)
    assert labels["team"] == "ml"
    assert RolloutState.from_labels(labels) == state
    assert all(key.startswith("vxdeploy-rollout") for key in KEYS)
    import re
    for key, value in labels.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) and re.fullmatch(r"[a-z0-9_-]{0,63}",
                                                                           value)
    # the reason of an earlier phase does not survive a write that has none
    cleared = merge_labels(labels, state.with_(phase=Phase.RUNNING, reason=""))
    assert "vxdeploy-rollout-reason" not in cleared


@pytest.mark.parametrize("labels", [
    {}, {"vxdeploy-rollout": "exploded"}, {"vxdeploy-rollout": "running",
                                           "vxdeploy-rollout-step": "x"}])
def test_garbled_or_missing_labels_read_as_idle(labels: dict[str, str]) -> None:
    assert RolloutState.from_labels(labels).phase is Phase.IDLE
