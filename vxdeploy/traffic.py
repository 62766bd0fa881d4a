"""Traffic math: split strings, split maps and the steps a strategy walks.

Pure functions only. Vertex traffic splits are whole percents over DeployedModel ids that
must sum to 100, so everything here works in ints and rejects anything else before it can
reach the API.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import TYPE_CHECKING

from vxdeploy.errors import InvalidInputError

if TYPE_CHECKING:
    from vxdeploy.profile.model import RolloutPolicy

_SPLIT = re.compile(r"^\s*(\d{1,3})\s*/\s*(\d{1,3})\s*$")
_SPLIT_HELP = "STABLE/CANDIDATE whole percents that sum to 100, e.g. 90/10, 50/50, 100/0"


def parse_split(text: str) -> tuple[int, int]:
    """Parse "90/10" into (stable, candidate) percents.

    Raises InvalidInputError naming the string and the allowed form otherwise.
    """
    match = _SPLIT.match(text or "")
    if match is None:
        raise InvalidInputError(f"traffic split {text!r} is not {_SPLIT_HELP}")
    stable, candidate = int(match.group(1)), int(match.group(2))
    if stable > 100 or candidate > 100 or stable + candidate != 100:
        raise InvalidInputError(
            f"traffic split {text!r} sums to {stable + candidate}, not 100: "
            f"expected {_SPLIT_HELP}")
    return stable, candidate


def check_percent(value: float, what: str = "candidate share") -> int:
    """A whole percent in 0..100, or InvalidInputError naming `what`."""
    if isinstance(value, bool) or not float(value).is_integer() or not 0 <= value <= 100:
        raise InvalidInputError(f"{what} {value!r} is not a whole percent between 0 and 100")
    return int(value)


def split_for(stable_id: str, candidate_id: str, candidate_percent: int) -> dict[str, int]:
    """The endpoint traffic split giving the candidate `candidate_percent`, stable the rest.

    Both keys are always present (even at 0) so the written split names every version the
    rollout manages and a reader can tell "at 0%" from "not part of this rollout".
    """
    if not stable_id or not candidate_id:
        raise InvalidInputError("a traffic split needs both a stable and a candidate "
                                "deployed model id")
    if stable_id == candidate_id:
        raise InvalidInputError(f"stable and candidate are the same deployed model "
                                f"{stable_id!r}: deploy a new version first")
    percent = check_percent(candidate_percent)
    return {stable_id: 100 - percent, candidate_id: percent}


def steps_for(policy: RolloutPolicy) -> list[int]:
    """The candidate shares the strategy walks, in order; the last is where it stops.

    The first element is always where a freshly deployed candidate starts:
    - all-at-once: [100]
    - canary: [first step below 100, 100] (one step, bake, promote)
    - linear: the profile's steps, ending at 100 (appended when missing)
    - manual: [0] (deployed dark, moved by `rollout 90/10` / `promote` by hand)
    """
    from vxdeploy.profile.model import RolloutStrategy

    strategy = RolloutStrategy(policy.strategy)
    if strategy is RolloutStrategy.ALL_AT_ONCE:
        return [100]
    if strategy is RolloutStrategy.MANUAL:
        return [0]
    steps = [check_percent(step, "rollout.steps entry") for step in policy.steps]
    for step in steps:
        if step == 0:
            raise InvalidInputError(
                "rollout.steps may not contain 0: a step with no traffic can never meet "
                "the min_requests gate; allowed values are 1..100")
    for before, after in pairwise(steps):
        if after <= before:
            raise InvalidInputError(
                f"rollout.steps must rise strictly (got {steps}); e.g. [10, 25, 50, 100]")
    if strategy is RolloutStrategy.CANARY:
        first = next((step for step in steps if step < 100), None)
        if first is None:
            raise InvalidInputError(
                "strategy 'canary' needs a first step below 100 in rollout.steps, e.g. [10, 100]")
        return [first, 100]
    if not steps or steps[-1] != 100:
        steps.append(100)
    return steps
