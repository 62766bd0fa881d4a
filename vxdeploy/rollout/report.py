"""What rollout commands report: progress ticks for people, a final report for CI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from vxdeploy.live import LiveDeployedModel, Reading
from vxdeploy.rollout.gates import GateResult
from vxdeploy.rollout_state import ACTIVE, Phase, RolloutState


@dataclass(frozen=True)
class Progress:
    """One progress tick for people: the step, the bake time left and the gate readings."""

    step: int
    steps: list[int]
    percent: int
    bake_left_s: float
    reading: Reading | None
    result: GateResult | None
    message: str = ""


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _version(version: LiveDeployedModel | None) -> dict[str, object] | None:
    if version is None:
        return None
    return {"deployed_model_id": version.id, "model": version.model,
            "version_id": version.version_id, "aliases": list(version.aliases)}


def live_outcome(state: RolloutState | None, candidate: LiveDeployedModel | None,
                 traffic: dict[str, int]) -> str:
    """The status outcome: the recorded phase, unless a newer candidate arrived since.

    A deploy after a finished rollout puts a new candidate at its first step without
    touching the rollout record; calling that `promoted` would hide a live canary.
    """
    phase = state.phase if state is not None else Phase.IDLE
    if candidate is None or phase in ACTIVE or (state and candidate.id == state.candidate_id):
        return phase.value
    return f"candidate at {int(traffic.get(candidate.id, 0))}%"


@dataclass
class Report:
    """What a rollout command did; `--output json` prints `to_dict()`."""

    action: str
    endpoint: str
    outcome: str = ""
    stable: LiveDeployedModel | None = None
    candidate: LiveDeployedModel | None = None
    traffic: dict[str, int] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    history: list[dict[str, object]] = field(default_factory=list)
    resumed_from_step: int | None = None
    reason: str = ""
    retired: list[str] = field(default_factory=list)
    state: RolloutState | None = None
    previous: LiveDeployedModel | None = None  # the stable a promotion replaced


    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "action": self.action, "endpoint": self.endpoint, "outcome": self.outcome,
            "stable": _version(self.stable), "candidate": _version(self.candidate),
            "traffic": dict(self.traffic),
        }
        if self.state is not None:
            body["state"] = {"phase": self.state.phase.value, "step": self.state.step,
                             "since": iso(self.state.since) if self.state.since else None,
                             "reason": self.state.reason}
        if self.steps:
            body["steps"] = list(self.steps)
        if self.history:
            body["history"] = list(self.history)
        if self.resumed_from_step is not None:
            body["resumed_from_step"] = self.resumed_from_step
        if self.reason:
            body["reason"] = self.reason
        if self.previous is not None:
            body["previous"] = _version(self.previous)
        if self.retired:
            body["retired"] = list(self.retired)
        return body
