"""The rollout's state, kept in the endpoint's labels.

State lives in Vertex rather than on the machine running the command, so a rollout cut off
in CI is resumed or aborted from anywhere. Labels (not a side database) because they are
written in the same UpdateEndpoint call, under the same etag, as the traffic they describe:
the state and the split can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from vxdeploy.names import ROLLOUT_LABEL_PREFIX as PREFIX

KEY_PHASE = PREFIX
KEY_STABLE = f"{PREFIX}-stable"
KEY_CANDIDATE = f"{PREFIX}-candidate"
KEY_STEP = f"{PREFIX}-step"
KEY_SINCE = f"{PREFIX}-since"
KEY_REASON = f"{PREFIX}-reason"
KEYS = (KEY_PHASE, KEY_STABLE, KEY_CANDIDATE, KEY_STEP, KEY_SINCE, KEY_REASON)


class Phase(StrEnum):
    IDLE = "idle"  # no rollout recorded
    MANUAL = "manual"  # a hand-set split (`rollout 90/10`)
    RUNNING = "running"  # `rollout run` walking its steps (step/since say where)
    PROMOTED = "promoted"  # candidate took over; it is the new stable
    ROLLED_BACK = "rolled-back"  # a gate failed; stable has 100%
    ABORTED = "aborted"  # `rollout abort`; stable has 100%


ACTIVE = (Phase.MANUAL, Phase.RUNNING)


@dataclass(frozen=True)
class RolloutState:
    phase: Phase = Phase.IDLE
    stable_id: str = ""
    candidate_id: str = ""
    step: int = 0  # index into the strategy's steps
    since: int = 0  # epoch seconds the current step (or phase) began
    reason: str = ""  # a label-safe code: error-rate, p99, too-few-requests, no-data, ...

    def with_(self, **changes: object) -> RolloutState:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_labels(self) -> dict[str, str]:
        labels = {KEY_PHASE: self.phase.value, KEY_STABLE: self.stable_id,
                  KEY_CANDIDATE: self.candidate_id, KEY_STEP: str(self.step),
                  KEY_SINCE: str(int(self.since))}
        if self.reason:
            labels[KEY_REASON] = self.reason
        return labels

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> RolloutState:
        """Decode the labels; anything missing or garbled reads as IDLE, never as a guess."""
        try:
            phase = Phase(labels.get(KEY_PHASE, Phase.IDLE.value))
            step = int(labels.get(KEY_STEP, "0") or 0)
            since = int(labels.get(KEY_SINCE, "0") or 0)
        except ValueError:
            return cls()
        return cls(phase=phase, stable_id=labels.get(KEY_STABLE, ""),
                   candidate_id=labels.get(KEY_CANDIDATE, ""), step=step, since=since,
                   reason=labels.get(KEY_REASON, ""))


def merge_labels(current: dict[str, str], state: RolloutState) -> dict[str, str]:
    """The endpoint's labels with the rollout keys replaced and every other label kept.

    UpdateEndpoint replaces the whole label map, so the owner/profile labels other parts
    rely on must be carried over.
    """
    kept = {key: value for key, value in current.items() if key not in KEYS}
    return {**kept, **state.to_labels()}
