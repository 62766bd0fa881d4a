"""The plan as a table of (profile, live state) -> changes. Pure: no server involved."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from vxdeploy.desired import Desired, desired_state
from vxdeploy.live import (
    LiveAlertPolicy,
    LiveDeployedModel,
    LiveEndpoint,
    LiveModelVersion,
    LiveState,
)
from vxdeploy.plan import Action, PlanError, compute_plan
from vxdeploy.profile.model import EndpointKind, Profile

IMAGE = "us-central1-docker.pkg.dev/p/r/flask@sha256:" + "a" * 64
MODEL = "projects/p/locations/us-central1/models/svc"


def make_desired(**sections: Any) -> Desired:
    data: dict[str, Any] = {"name": "t", "project": "p", "endpoint": {"name": "svc"},
                            "model": {"artifact_uri": "gs://b/m"}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return desired_state(Profile.model_validate(data), IMAGE)


def deployed_from(desired: Desired, *, dm_id: str | None = None, version: str = "1",
                  fingerprint: str | None = None, aliases: tuple[str, ...] = ("default", "stable"),
                  **overrides: Any) -> LiveDeployedModel:
    r = desired.resources
    base = LiveDeployedModel(
        id=dm_id or desired.deployed_model_id, model=MODEL, version_id=version,
        display_name="m", machine_type=r.machine_type, accelerator_type=r.accelerator_type,
        accelerator_count=r.accelerator_count, min_replicas=r.min_replicas,
        max_replicas=r.max_replicas, required_replicas=r.required_replicas, spot=r.spot,
        service_account=r.service_account, autoscaling=dict(r.autoscaling),
        scale_to_zero=r.scale_to_zero,
        fingerprint=desired.model.fingerprint if fingerprint is None else fingerprint,
        aliases=aliases)
    return replace(base, **overrides)


def alerts_from(desired: Desired) -> dict[str, LiveAlertPolicy]:
    return {a.kind: LiveAlertPolicy(name=f"projects/p/alertPolicies/{a.kind}", kind=a.kind,
                                    display_name=a.display_name, threshold=a.threshold,
                                    duration_s=a.duration_s, filter=a.filter,
                                    denominator_filter=a.denominator_filter, channels=(),
                                    enabled=True)
            for a in desired.alerts}


def converged(desired: Desired, *deployed: LiveDeployedModel,
              split: dict[str, int] | None = None, **endpoint: Any) -> LiveState:
    """Live state exactly as a finished deploy of `desired` leaves it (plus `deployed`)."""
    models = deployed or (deployed_from(desired),)
    e = desired.endpoint
    live_endpoint = LiveEndpoint(
        name=f"projects/p/locations/us-central1/endpoints/{e.endpoint_id}",
        endpoint_id=e.endpoint_id, display_name=e.display_name, labels=dict(e.labels),
        etag="etag-1", traffic_split=split if split is not None else {models[0].id: 100},
        deployed_models=tuple(models), kind=e.kind,
        inference_timeout_s=e.inference_timeout_s)
    live_endpoint = replace(live_endpoint, **endpoint)
    version = LiveModelVersion(MODEL, "1", desired.model.fingerprint, ("default", "stable"), {})
    return LiveState(endpoint=live_endpoint, model_exists=True, matching_version=version,
                     alert_policies=alerts_from(desired))


def actions(desired: Desired, live: LiveState) -> list[Action]:
    return [c.action for c in compute_plan(desired, live).changes]


def test_nothing_exists_creates_everything() -> None:
    desired = make_desired()
    plan = compute_plan(desired, LiveState())
    assert [c.action for c in plan.changes] == [
        Action.CREATE_ENDPOINT, Action.UPLOAD_MODEL, Action.DEPLOY_MODEL, Action.SET_ALIASES,
        Action.CREATE_ALERT, Action.CREATE_ALERT]
    upload, deploy = plan.changes[1], plan.changes[2]
    assert (upload.request.model_id, upload.request.parent_exists) == ("svc", False)
    assert deploy.request.traffic_percent == 100
    assert deploy.after["deployed_model_id"] == desired.deployed_model_id


def test_converged_state_plans_nothing() -> None:
    desired = make_desired()
    assert compute_plan(desired, converged(desired)).empty


def test_replica_change_mutates_in_place() -> None:
    old = make_desired()
    new = make_desired(machine={"min_replicas": 2, "max_replicas": 5})
    assert new.deployed_model_id == old.deployed_model_id
    plan = compute_plan(new, converged(old))
    (change,) = plan.changes
    assert change.action is Action.MUTATE_DEPLOYED_MODEL
    assert change.before["max_replicas"] == 1 and change.after["max_replicas"] == 5


def test_autoscaling_target_change_mutates_in_place() -> None:
    old = make_desired()
    new = make_desired(machine={"autoscaling": {"cpu_utilization": 70}})
    assert actions(new, converged(old)) == [Action.MUTATE_DEPLOYED_MODEL]


@pytest.mark.parametrize("machine", [
    {"machine_type": "n1-standard-8"},
    {"spot": True},
    {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4",
     "accelerator_count": 1},
])
def test_immutable_resource_change_redeploys(machine: dict[str, Any]) -> None:
    old = make_desired()
    new = make_desired(machine=machine)
    assert new.deployed_model_id != old.deployed_model_id
    plan = compute_plan(new, converged(old))
    assert [c.action for c in plan.changes] == [Action.DEPLOY_MODEL, Action.SET_TRAFFIC,
                                                Action.UNDEPLOY_MODEL]
    assert plan.changes[1].request.split == {new.deployed_model_id: 100}
    assert plan.changes[2].request.deployed_model_id == old.deployed_model_id


def new_version_case(strategy: str, **rollout: Any) -> tuple[Desired, LiveState]:
    old = make_desired(rollout={"strategy": strategy, **rollout})
    live = converged(old)
    live.matching_version = None
    new = make_desired(rollout={"strategy": strategy, **rollout},
                       model={"artifact_uri": "gs://b/m2"})
    return new, live


def test_new_version_all_at_once() -> None:
    new, live = new_version_case("all-at-once")
    plan = compute_plan(new, live)
    assert [c.action for c in plan.changes] == [
        Action.UPLOAD_MODEL, Action.DEPLOY_MODEL, Action.SET_TRAFFIC, Action.SET_ALIASES,
        Action.UNDEPLOY_MODEL]
    assert plan.changes[0].request.parent_exists is True
    assert plan.changes[1].request.traffic_percent == 0
    assert plan.changes[2].request.split == {new.deployed_model_id: 100}
    assert "stable" in plan.changes[3].request.add


def test_new_version_keep_old() -> None:
    new, live = new_version_case("all-at-once", old_version="keep")
    assert Action.UNDEPLOY_MODEL not in actions(new, live)


def test_new_version_canary_starts_at_first_step() -> None:
    new, live = new_version_case("canary", steps=[5, 100])
    plan = compute_plan(new, live)
    assert [c.action for c in plan.changes] == [
        Action.UPLOAD_MODEL, Action.DEPLOY_MODEL, Action.SET_ALIASES, Action.SET_TRAFFIC]
    stable_id = live.endpoint.deployed_models[0].id
    assert plan.changes[3].request.split == {stable_id: 95, new.deployed_model_id: 5}
    assert plan.changes[2].request.add == ("candidate",)
    assert plan.expected_split == {stable_id: 100}


def test_new_version_manual_waits_at_zero() -> None:
    new, live = new_version_case("manual")
    assert actions(new, live) == [Action.UPLOAD_MODEL, Action.DEPLOY_MODEL, Action.SET_ALIASES]


def test_rollout_in_progress_is_left_alone() -> None:
    new, live = new_version_case("linear", steps=[10, 50, 100])
    old = live.endpoint.deployed_models[0]
    candidate = deployed_from(new, version="2", aliases=("candidate",))
    live.endpoint = replace(live.endpoint, deployed_models=(old, candidate),
                            traffic_split={old.id: 50, candidate.id: 50})
    live.matching_version = LiveModelVersion(MODEL, "2", new.model.fingerprint, ("candidate",),
                                             {})
    assert compute_plan(new, live).empty


def test_candidate_left_at_zero_restarts_the_rollout() -> None:
    new, live = new_version_case("canary", steps=[10, 100])
    old = live.endpoint.deployed_models[0]
    candidate = deployed_from(new, version="2", aliases=("candidate",))
    live.endpoint = replace(live.endpoint, deployed_models=(old, candidate))
    live.matching_version = LiveModelVersion(MODEL, "2", new.model.fingerprint, (), {})
    plan = compute_plan(new, live)
    assert [c.action for c in plan.changes] == [Action.SET_TRAFFIC]
    assert plan.changes[0].request.split == {old.id: 90, candidate.id: 10}


def test_promoted_candidate_retires_the_old_version() -> None:
    new, live = new_version_case("canary", steps=[10, 100])
    old = live.endpoint.deployed_models[0]
    candidate = deployed_from(new, version="2", aliases=("stable",))
    live.endpoint = replace(live.endpoint, deployed_models=(old, candidate),
                            traffic_split={candidate.id: 100})
    live.matching_version = LiveModelVersion(MODEL, "2", new.model.fingerprint, ("stable",), {})
    plan = compute_plan(new, live)
    assert [c.action for c in plan.changes] == [Action.UNDEPLOY_MODEL]


def test_uploaded_but_not_deployed_version_is_reused() -> None:
    desired = make_desired()
    live = LiveState(model_exists=True, matching_version=LiveModelVersion(
        MODEL, "3", desired.model.fingerprint, (), {}))
    plan = compute_plan(desired, live)
    assert Action.UPLOAD_MODEL not in [c.action for c in plan.changes]
    deploy = next(c for c in plan.changes if c.action is Action.DEPLOY_MODEL)
    assert deploy.request.version == f"{MODEL}@3"


def test_label_change_updates_endpoint() -> None:
    old = make_desired()
    new = make_desired(endpoint={"labels": {"team": "x"}})
    (change,) = compute_plan(new, converged(old)).changes
    assert change.action is Action.UPDATE_ENDPOINT
    assert change.after["labels"]["team"] == "x"


def test_rollout_labels_are_neither_compared_nor_removed() -> None:
    desired = make_desired()
    live = converged(desired)
    rollout_labels = {"vxdeploy-rollout": "running", "vxdeploy-rollout-step": "1"}
    live.endpoint = replace(live.endpoint, labels={**live.endpoint.labels, **rollout_labels})
    assert compute_plan(desired, live).empty
    changed = make_desired(endpoint={"labels": {"team": "y"}})
    (change,) = compute_plan(changed, live).changes
    assert change.after["labels"]["vxdeploy-rollout"] == "running"
    assert change.after["labels"]["team"] == "y"


def test_endpoint_kind_cannot_change() -> None:
    old = make_desired()
    new = make_desired(endpoint={"kind": "dedicated"})
    with pytest.raises(PlanError, match="networking is fixed"):
        compute_plan(new, converged(old))


def test_dedicated_timeout_change_updates_endpoint() -> None:
    old = make_desired(endpoint={"kind": "dedicated", "inference_timeout_s": 60})
    new = make_desired(endpoint={"kind": "dedicated", "inference_timeout_s": 600})
    (change,) = compute_plan(new, converged(old)).changes
    assert change.after == {"inference_timeout_s": 600}


def test_alert_threshold_change_updates_policy() -> None:
    old = make_desired()
    new = make_desired(alerts={"p99_latency_ms": 250})
    plan = compute_plan(new, converged(old))
    (change,) = plan.changes
    assert change.action is Action.UPDATE_ALERT and change.request.alert.kind == "latency"
    assert change.after["threshold"] == 250


def test_alerts_disabled_deletes_policies() -> None:
    old = make_desired()
    new = make_desired(alerts={"enabled": False})
    assert actions(new, converged(old)) == [Action.DELETE_ALERT, Action.DELETE_ALERT]


def test_unknown_notification_channel_is_a_plan_error() -> None:
    desired = make_desired(alerts={"notification_channels": ["oncall"]})
    live = converged(desired)
    live.channels = {"oncall": None}
    with pytest.raises(PlanError, match="no notification channel named 'oncall'"):
        compute_plan(desired, live)


def test_channels_resolve_into_the_policy() -> None:
    desired = make_desired(alerts={"notification_channels": ["oncall"]})
    live = converged(desired)
    live.channels = {"oncall": "projects/p/notificationChannels/7"}
    plan = compute_plan(desired, live)
    assert {c.action for c in plan.changes} == {Action.UPDATE_ALERT}
    assert all(c.request.channels == ("projects/p/notificationChannels/7",)
               for c in plan.changes)


def test_scale_to_zero_is_part_of_the_deployment_identity() -> None:
    stz = {"min_replicas": 0, "scale_to_zero": {"enabled": True}}
    a = make_desired(endpoint={"kind": "dedicated"}, machine=stz,
                     rollout={"strategy": "all-at-once"})
    b = make_desired(endpoint={"kind": "dedicated"}, machine={**stz, "scale_to_zero": {
        "enabled": True, "idle_scaledown_period_s": 600}}, rollout={"strategy": "all-at-once"})
    assert a.resources.scale_to_zero == (3600, 3600)
    assert a.deployed_model_id != b.deployed_model_id


def test_deployed_model_ids_are_vertex_shaped_and_stable() -> None:
    a, b = make_desired(), make_desired()
    assert a.deployed_model_id == b.deployed_model_id
    assert len(a.deployed_model_id) == 10 and a.deployed_model_id[0] != "0"


def test_plan_json_shape() -> None:
    desired = make_desired()
    document = compute_plan(desired, LiveState()).to_dict()
    assert document["summary"] == {"add": 5, "change": 1, "remove": 0}
    assert document["changes"][0]["action"] == "create-endpoint"
    assert set(document["changes"][0]) == {"action", "resource", "reason", "before", "after",
                                           "request"}


def test_endpoint_kind_defaults() -> None:
    assert make_desired().endpoint.kind is EndpointKind.PUBLIC


@pytest.mark.parametrize(("model", "machine", "target", "backend"), [
    ({"container": "tensorrt", "backend": "onnxruntime"}, {}, "vertex", "ONNX Runtime on CPU"),
    ({"container": "tensorrt"}, {"machine_type": "g2-standard-4"}, "vertex",
     "TensorRT on NVIDIA_L4"),
    ({"container": "tensorrt"}, {}, "local",
     "TensorRT with a CUDA GPU on this machine, else ONNX Runtime on CPU (local)"),
    ({"container": "flask"}, {}, "vertex", None),
])
def test_the_plan_says_which_backend_serves(model: dict[str, Any], machine: dict[str, Any],
                                            target: str, backend: str | None) -> None:
    desired = desired_state(Profile.model_validate(
        {"name": "t", "project": "p", "target": target, "endpoint": {"name": "svc"},
         "model": {"artifact_uri": "gs://b/m", **model}, "machine": machine}), IMAGE)
    plan = compute_plan(desired, LiveState())
    upload = next(c for c in plan.changes if c.action is Action.UPLOAD_MODEL)
    assert (upload.after or {}).get("serving_backend") == backend
    if model.get("backend") == "onnxruntime":
        assert ("VXSERVE_TRT_BACKEND", "onnxruntime") in desired.model.env


def rolled_back(desired: Desired, live: LiveState, share: int = 0) -> LiveState:
    """`live` after a rollout rolled `desired`'s deployed model back (kept at `share`)."""
    from vxdeploy.rollout_state import Phase, RolloutState

    assert live.endpoint is not None
    stable = live.endpoint.deployed_models[0].id
    record = RolloutState(Phase.ROLLED_BACK, stable, desired.deployed_model_id, 0, 1.0,
                          reason="error rate 50% > 5%").to_labels()
    split = {stable: 100 - share, desired.deployed_model_id: share} if share else {stable: 100}
    return replace(live, endpoint=replace(live.endpoint, labels={**live.endpoint.labels,
                                                                 **record}, traffic_split=split))


def test_a_rolled_back_version_is_not_proposed_again() -> None:
    from vxdeploy.errors import ExitCode, RolledBackError

    old = make_desired(model={"artifact_uri": "gs://b/old"})
    new = make_desired(model={"artifact_uri": "gs://b/new"},
                       rollout={"strategy": "canary", "steps": [10, 100]})
    live = rolled_back(new, converged(old))
    with pytest.raises(RolledBackError, match=r"rolled back.*error rate 50%") as caught:
        compute_plan(new, live)
    assert caught.value.exit_code == ExitCode.ROLLED_BACK
    assert "--retry-rejected" in (caught.value.hint or "")
    retried = compute_plan(new, live, retry_rejected=True)
    assert Action.DEPLOY_MODEL in [c.action for c in retried.changes]
    # another version is planned as usual; so is the rejected one once it serves traffic
    other = make_desired(model={"artifact_uri": "gs://b/other"},
                         rollout={"strategy": "canary", "steps": [10, 100]})
    assert not compute_plan(other, live).empty
    compute_plan(new, rolled_back(new, converged(old), share=10))


def test_default_moves_with_stable() -> None:
    """A new stable version takes `default` too, so a version that never served drops it."""
    old = make_desired(model={"artifact_uri": "gs://b/old"})
    new = make_desired(model={"artifact_uri": "gs://b/new"})  # all-at-once by default
    live = replace(converged(old), matching_version=None)
    adds = [c.after["add"] for c in compute_plan(new, live).changes
            if c.action is Action.SET_ALIASES]
    assert adds and "stable" in adds[0] and "default" in adds[0]
    first = compute_plan(new, replace(live, endpoint=None, alert_policies={}))
    first_adds = [c.after["add"] for c in first.changes if c.action is Action.SET_ALIASES]
    assert first_adds == [["stable", "default"]]


def versions_case(keep: int) -> tuple[Desired, LiveState]:
    """Six versions: 1 holds `default`, 2 is deployed elsewhere, 3-5 are idle, 6 serves."""
    desired = make_desired(model={"keep_versions": keep})
    live = converged(desired, deployed_from(desired, version="6"))
    live.matching_version = LiveModelVersion(MODEL, "6", desired.model.fingerprint,
                                             ("default", "stable"), {})
    idle = [LiveModelVersion(MODEL, str(n), f"f{n}", (), {}) for n in (3, 4, 5)]
    live.versions = (LiveModelVersion(MODEL, "1", "f1", ("old",), {}),
                     LiveModelVersion(MODEL, "2", "f2", (), {}, deployed=True),
                     *idle, live.matching_version)
    return desired, live


@pytest.mark.parametrize(("keep", "deleted"), [
    (6, []), (5, ["3"]), (4, ["3", "4"]), (1, ["3", "4", "5"]),
])
def test_keep_versions_prunes_the_oldest_idle_versions(keep: int, deleted: list[str]) -> None:
    desired, live = versions_case(keep)
    plan = compute_plan(desired, live)
    assert [c.resource.rsplit("@", 1)[1] for c in plan.changes
            if c.action is Action.DELETE_MODEL_VERSION] == deleted
    assert plan.summary()["remove"] == len(deleted)


def test_keep_versions_counts_the_version_being_uploaded() -> None:
    _, live = versions_case(6)
    new = make_desired(model={"keep_versions": 6, "artifact_uri": "gs://b/m2"})
    live.matching_version = None
    plan = compute_plan(new, live)
    assert [c.resource for c in plan.changes if c.action is Action.DELETE_MODEL_VERSION] == \
        [f"{MODEL}@3"]


def test_unset_keep_versions_prunes_nothing() -> None:
    _, live = versions_case(1)
    assert compute_plan(make_desired(), live).empty
