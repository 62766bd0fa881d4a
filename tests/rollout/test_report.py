"""What `rollout status` calls the endpoint's state: what is live, not only what was recorded."""

from __future__ import annotations

from vxdeploy.live import LiveDeployedModel
from vxdeploy.rollout.report import Report, live_outcome
from vxdeploy.rollout_state import Phase, RolloutState

M = "projects/p/locations/us-central1/models/m"
OLD, NEW, NEWER = (LiveDeployedModel(i, M, i[0], create_time=t) for i, t in
                   (("111", 1.0), ("222", 2.0), ("333", 3.0)))


def test_a_new_candidate_after_a_promotion_is_not_called_promoted() -> None:
    promoted = RolloutState(Phase.PROMOTED, OLD.id, NEW.id, 1, 10.0)
    assert live_outcome(promoted, NEWER, {NEW.id: 90, NEWER.id: 10}) == "candidate at 10%"
    assert live_outcome(promoted, None, {NEW.id: 100}) == "promoted"


def test_recorded_phases_stand_while_they_describe_the_live_candidate() -> None:
    running = RolloutState(Phase.RUNNING, OLD.id, NEW.id, 0, 10.0)
    assert live_outcome(running, NEW, {OLD.id: 90, NEW.id: 10}) == "running"
    rolled_back = RolloutState(Phase.ROLLED_BACK, OLD.id, NEW.id, 0, 10.0)
    assert live_outcome(rolled_back, NEW, {OLD.id: 100}) == "rolled-back"
    assert live_outcome(None, None, {OLD.id: 100}) == "idle"


def test_a_promotion_report_names_the_replaced_version_previous() -> None:
    report = Report("promote", "e", "promoted", stable=NEW, previous=OLD)
    body = report.to_dict()
    assert body["stable"]["deployed_model_id"] == NEW.id  # type: ignore[index]
    assert body["previous"]["deployed_model_id"] == OLD.id  # type: ignore[index]
