"""The step state machine: where a rollout starts, how long a step lasts, what comes next.

Pure functions over `RolloutState` so every transition is table-tested; the runner only
executes what these decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vxdeploy.profile.model import RolloutPolicy
from vxdeploy.rollout.gates import GateResult, Verdict
from vxdeploy.rollout_state import Phase, RolloutState


@dataclass(frozen=True)
class StepTiming:
    """When a step may be judged and when it must have passed.

    The bake window's metrics are complete only `metrics_delay_s` after it ends; then the
    step gets one more delay's worth of grace for late points before missing data fails it.
    """

    started_at: float
    bake_s: float
    metrics_delay_s: float

    @property
    def bake_ends_at(self) -> float:
        return self.started_at + self.bake_s

    @property
    def decide_at(self) -> float:
        return self.bake_ends_at + self.metrics_delay_s

    @property
    def deadline(self) -> float:
        return self.decide_at + self.metrics_delay_s

    def window_complete(self, now: float) -> bool:
        return now >= self.decide_at

    def deadline_passed(self, now: float) -> bool:
        return now >= self.deadline

    def bake_left(self, now: float) -> float:
        return max(0.0, self.bake_ends_at - now)


def bake_for(policy: RolloutPolicy, steps: list[int], index: int) -> float:
    """How long step `index` is held: the final bake at 100%, the bake time before it."""
    return policy.final_bake_s if steps[index] == 100 else policy.bake_time_s


def timing_for(policy: RolloutPolicy, steps: list[int], state: RolloutState) -> StepTiming:
    return StepTiming(started_at=float(state.since), bake_s=bake_for(policy, steps, state.step),
                      metrics_delay_s=policy.metrics_delay_s)


def needs_gates(policy: RolloutPolicy, steps: list[int], index: int) -> bool:
    """A 100% step with no final bake is promotion itself: nothing left to watch."""
    return not (steps[index] == 100 and policy.final_bake_s == 0)


def start_index(steps: list[int], candidate_share: int) -> int:
    """The first step at or above the candidate's current share: traffic never steps back."""
    for index, step in enumerate(steps):
        if step >= candidate_share:
            return index
    return len(steps) - 1


def candidate_share(state: RolloutState, steps: list[int]) -> int:
    """The share of traffic the candidate should hold in `state`."""
    if state.phase is Phase.RUNNING:
        return steps[state.step]
    if state.phase is Phase.PROMOTED:
        return 100
    return 0


def _second_after(now: float) -> int:
    """Labels hold whole seconds; rounding up keeps the previous step's requests out of the
    next step's window (rounding down would let up to a second of them in)."""
    return math.ceil(now)


def advance(state: RolloutState, steps: list[int], result: GateResult,
            now: float) -> RolloutState:
    """The state after judging the current step."""
    if state.phase is not Phase.RUNNING or result.verdict is Verdict.WAIT:
        return state
    if result.verdict is Verdict.FAIL:
        return state.with_(phase=Phase.ROLLED_BACK, since=_second_after(now), reason=result.code)
    if state.step + 1 < len(steps):
        return state.with_(step=state.step + 1, since=_second_after(now), reason="")
    return state.with_(phase=Phase.PROMOTED, since=_second_after(now), reason="")
