"""Which deployed model is stable and which is the candidate, so nobody types an id.

Order of evidence, strongest first:
1. the rollout's own record in the endpoint labels (it moves with the traffic, under the
   same etag), as long as the versions it names are still deployed;
2. the model version holding the `stable` alias;
3. before any alias: the deployed model with the most traffic (ties: the oldest).
The candidate is the newest deployed model, and only if it is newer than stable: a
version kept at 0% after a promotion is the previous one, not something to roll out.
"""

from __future__ import annotations

from dataclasses import dataclass

from vxdeploy.errors import NotFoundError
from vxdeploy.names import STABLE_ALIAS
from vxdeploy.rollout.ports import DeployedVersion, EndpointView
from vxdeploy.rollout.state import ACTIVE, Phase, RolloutState


@dataclass(frozen=True)
class Versions:
    stable: DeployedVersion
    candidate: DeployedVersion | None
    how: str  # why stable is stable: labels, alias, traffic


def _stable(view: EndpointView, state: RolloutState) -> tuple[DeployedVersion, str]:
    recorded = state.candidate_id if state.phase is Phase.PROMOTED else state.stable_id
    if state.phase is not Phase.IDLE and (found := view.find(recorded)):
        return found, "labels"
    holders = [d for d in view.deployed if STABLE_ALIAS in d.aliases]
    if holders:
        return max(holders, key=lambda d: (view.share(d.id), -d.create_time)), "alias"
    return max(view.deployed, key=lambda d: (view.share(d.id), -d.create_time)), "traffic"


def resolve(view: EndpointView) -> Versions:
    """Stable and candidate for `view`; NotFoundError when nothing is deployed."""
    if not view.deployed:
        raise NotFoundError(f"endpoint {view.name} has no deployed models",
                            hint="run `vxdeploy deploy --profile NAME` first")
    state = RolloutState.from_labels(view.labels)
    stable, how = _stable(view, state)
    if state.phase in ACTIVE and state.candidate_id != stable.id \
            and (recorded := view.find(state.candidate_id)):
        return Versions(stable, recorded, how)
    newest = max(view.deployed, key=lambda d: (d.create_time, d.id))
    if newest.id == stable.id or newest.create_time < stable.create_time:
        return Versions(stable, None, how)
    return Versions(stable, newest, how)
