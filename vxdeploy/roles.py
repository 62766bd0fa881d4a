"""Which deployed model is stable and which is the candidate: the one rule for plan,
rollout and status, so they cannot disagree about an endpoint.

Order of evidence, strongest first:
1. the rollout's own record in the endpoint labels (it moves with the traffic, under the
   same etag), as long as the versions it names are still deployed;
2. the model version holding the `stable` alias;
3. before any alias: the deployed model with the most traffic (ties: the oldest, which
   is what served before the newer one arrived).
The candidate is the newest deployed model, and only if it is newer than stable: a
version kept at 0% after a promotion is the previous one, not something to roll out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from vxdeploy.errors import NotFoundError
from vxdeploy.names import STABLE_ALIAS
from vxdeploy.rollout_state import ACTIVE, Phase, RolloutState


class Deployed(Protocol):
    """What the rule needs of a deployed model (the live and the rollout types both have it)."""

    @property
    def id(self) -> str: ...
    @property
    def create_time(self) -> float: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...


D = TypeVar("D", bound=Deployed)


@dataclass(frozen=True)
class Versions(Generic[D]):
    stable: D
    candidate: D | None
    how: str  # why stable is stable: labels, alias, traffic


def stable_of(deployed: Sequence[D], traffic: Mapping[str, int],
              labels: Mapping[str, str]) -> tuple[D, str] | None:
    """The stable deployed model among `deployed` and why; None when there is none."""
    if not deployed:
        return None
    state = RolloutState.from_labels(dict(labels))
    recorded = state.candidate_id if state.phase is Phase.PROMOTED else state.stable_id
    found = next((d for d in deployed if d.id == recorded), None)
    if state.phase is not Phase.IDLE and found is not None:
        return found, "labels"

    def weight(d: D) -> tuple[int, float]:
        return int(traffic.get(d.id, 0)), -d.create_time

    holders = [d for d in deployed if STABLE_ALIAS in d.aliases]
    if holders:
        return max(holders, key=weight), "alias"
    return max(deployed, key=weight), "traffic"


def resolve(name: str, deployed: Sequence[D], traffic: Mapping[str, int],
            labels: Mapping[str, str]) -> Versions[D]:
    """Stable and candidate on endpoint `name`; NotFoundError when nothing is deployed."""
    picked = stable_of(deployed, traffic, labels)
    if picked is None:
        raise NotFoundError(f"endpoint {name} has no deployed models",
                            hint="run `vxdeploy deploy --profile NAME` first")
    stable, how = picked
    state = RolloutState.from_labels(dict(labels))
    recorded = next((d for d in deployed if d.id == state.candidate_id), None)
    if state.phase in ACTIVE and state.candidate_id != stable.id and recorded is not None:
        return Versions(stable, recorded, how)
    newest = max(deployed, key=lambda d: (d.create_time, d.id))
    if newest.id == stable.id or newest.create_time < stable.create_time:
        return Versions(stable, None, how)
    return Versions(stable, newest, how)
