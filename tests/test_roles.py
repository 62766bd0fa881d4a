"""Table tests: which deployed model is stable and which is the candidate."""

from __future__ import annotations

import dataclasses

import pytest

from vxdeploy.errors import NotFoundError
from vxdeploy.live import LiveDeployedModel, LiveEndpoint
from vxdeploy.profile.model import EndpointKind
from vxdeploy.roles import resolve, stable_of
from vxdeploy.rollout_state import Phase, RolloutState

M = "projects/p/locations/us-central1/models/m"
V1 = LiveDeployedModel("111", M, "1", create_time=100.0)
V2 = LiveDeployedModel("222", M, "2", create_time=200.0)
V3 = LiveDeployedModel("333", M, "3", create_time=300.0)


def stable(version: LiveDeployedModel) -> LiveDeployedModel:
    return dataclasses.replace(version, aliases=("default", "stable"))


def view(deployed, traffic, labels=None) -> LiveEndpoint:
    return LiveEndpoint("projects/p/locations/us-central1/endpoints/e", "e", "e", labels or {},
                        "etag", traffic, tuple(deployed), EndpointKind.PUBLIC, 60)


def state(phase: Phase, stable_id: str, candidate_id: str) -> dict[str, str]:
    return RolloutState(phase, stable_id, candidate_id, 0, 1).to_labels()


@pytest.mark.parametrize(("endpoint", "expected", "how"), [
    # before any alias: the majority of traffic; the newest other is the candidate
    (view([V1, V2], {"111": 100}), ("111", "222"), "traffic"),
    (view([V1, V2], {"111": 10, "222": 90}), ("222", None), "traffic"),
    (view([V1, V2], {"111": 50, "222": 50}), ("111", "222"), "traffic"),
    (view([V1, V2], {}), ("111", "222"), "traffic"),
    (view([V1], {"111": 100}), ("111", None), "traffic"),
    # the alias wins over traffic
    (view([stable(V1), V2], {"111": 10, "222": 90}), ("111", "222"), "alias"),
    (view([V1, stable(V2)], {"111": 100}), ("222", None), "alias"),
    # the newest is the candidate, the in-between version is not
    (view([stable(V1), V2, V3], {"111": 100}), ("111", "333"), "alias"),
    # an older version kept at 0% after a promotion is not a candidate
    (view([V1, stable(V2)], {"222": 100}, state(Phase.PROMOTED, "111", "222")),
     ("222", None), "labels"),
    # an active rollout's record wins, even against a newer deploy
    (view([V1, V2, V3], {"111": 90, "222": 10}, state(Phase.RUNNING, "111", "222")),
     ("111", "222"), "labels"),
    (view([stable(V1), V2], {"111": 50, "222": 50}, state(Phase.MANUAL, "111", "222")),
     ("111", "222"), "labels"),
    # a record naming undeployed versions is ignored
    (view([V2, V3], {"222": 100}, state(Phase.RUNNING, "111", "999")),
     ("222", "333"), "traffic"),
    # after a rollback, stable is still the recorded stable
    (view([V1, V2], {"111": 100}, state(Phase.ROLLED_BACK, "111", "222")),
     ("111", "222"), "labels"),
])
def test_resolve(endpoint: LiveEndpoint, expected: tuple[str, str | None], how: str) -> None:
    versions = resolve(endpoint.name, endpoint.deployed_models, endpoint.traffic_split,
                       endpoint.labels)
    got = (versions.stable.id, versions.candidate.id if versions.candidate else None)
    assert got == expected
    assert versions.how == how


def test_nothing_deployed_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no deployed models"):
        resolve("projects/p/locations/us-central1/endpoints/e", (), {}, {})


def test_plan_and_rollout_agree_on_a_tie() -> None:
    """50/50 with no alias and no record: the older version served first, so it is stable.

    plan.py used to break this tie by the highest id and the rollout by the oldest: a deploy
    then treated the newer version as stable while `rollout status` called it the candidate.
    """
    from vxdeploy.live import LiveDeployedModel, LiveEndpoint
    from vxdeploy.plan import _stable_of
    from vxdeploy.profile.model import EndpointKind

    def live(dm_id: str, created: float) -> LiveDeployedModel:
        return LiveDeployedModel(
            id=dm_id, model=M, version_id=dm_id[0], display_name="", machine_type="n1",
            accelerator_type="", accelerator_count=0, min_replicas=1, max_replicas=1,
            required_replicas=0, spot=False, service_account="", autoscaling={},
            scale_to_zero=None, create_time=created)

    older, newer = live("111", 100.0), live("999", 200.0)
    split = {"111": 50, "999": 50}
    endpoint = LiveEndpoint("projects/p/locations/us-central1/endpoints/e", "e", "e", {}, "etag",
                            split, (newer, older), EndpointKind.DEDICATED, 600)
    planned = _stable_of(endpoint, exclude="")
    rolled = resolve(endpoint.name, endpoint.deployed_models, split, {})
    assert planned is not None and planned.id == rolled.stable.id == "111"
    assert stable_of([newer, older], split, {}) == (older, "traffic")
