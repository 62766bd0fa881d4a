"""Planning: desired state + live state -> an ordered list of typed changes. Pure, no I/O.

Like Terraform's plan: each change says what, why, and the before/after it implies; `deploy`
applies exactly the changes shown. The rules for a new model version follow the profile's
rollout strategy; a rollout already in progress (candidate deployed next to stable) is left
to `vxdeploy rollout`, so re-running deploy mid-rollout changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from vxdeploy.desired import Desired, DesiredAlert
from vxdeploy.errors import InvalidInputError, RolledBackError
from vxdeploy.live import LiveAlertPolicy, LiveDeployedModel, LiveEndpoint, LiveState
from vxdeploy.names import CANDIDATE_ALIAS, ROLLOUT_LABEL_PREFIX, SERVING_ALIASES, STABLE_ALIAS
from vxdeploy.profile.model import EndpointKind, RolloutStrategy
from vxdeploy.roles import stable_of
from vxdeploy.rollout_state import Phase, RolloutState
from vxdeploy.verbs import (
    CreateAlert,
    CreateEndpoint,
    Delete,
    DeployModel,
    MutateDeployedModel,
    Request,
    SetAliases,
    SetTraffic,
    UndeployModel,
    UpdateAlert,
    UpdateEndpoint,
    UploadModel,
)


class Action(StrEnum):
    CREATE_ENDPOINT = "create-endpoint"
    UPDATE_ENDPOINT = "update-endpoint"
    UPLOAD_MODEL = "upload-model"
    DEPLOY_MODEL = "deploy-model"
    MUTATE_DEPLOYED_MODEL = "mutate-deployed-model"
    SET_TRAFFIC = "set-traffic"
    UNDEPLOY_MODEL = "undeploy-model"
    SET_ALIASES = "set-aliases"
    CREATE_ALERT = "create-alert-policy"
    UPDATE_ALERT = "update-alert-policy"
    DELETE_ALERT = "delete-alert-policy"
    DELETE_MODEL_VERSION = "delete-model-version"
    DELETE_ENDPOINT = "delete-endpoint"  # destroy only
    DELETE_MODEL = "delete-model"  # destroy only


MUTATING_SYMBOL = {
    Action.CREATE_ENDPOINT: "+", Action.UPLOAD_MODEL: "+", Action.DEPLOY_MODEL: "+",
    Action.CREATE_ALERT: "+", Action.UPDATE_ENDPOINT: "~", Action.MUTATE_DEPLOYED_MODEL: "~",
    Action.SET_TRAFFIC: "~", Action.SET_ALIASES: "~", Action.UPDATE_ALERT: "~",
    Action.UNDEPLOY_MODEL: "-", Action.DELETE_ALERT: "-", Action.DELETE_MODEL_VERSION: "-",
    Action.DELETE_ENDPOINT: "-", Action.DELETE_MODEL: "-",
}

NEW_VERSION = "(new)"  # stands for the version an earlier UPLOAD_MODEL creates


def _owned_labels(labels: dict[str, str]) -> dict[str, str]:
    """Drop the labels `vxdeploy rollout` owns: deploy neither compares nor removes them."""
    return {k: v for k, v in labels.items() if not k.startswith(ROLLOUT_LABEL_PREFIX)}


@dataclass(frozen=True)
class Change:
    """One step: what and why for people (`before`/`after`), and the typed request the
    writer sends for it, so applying needs nothing but the plan."""

    action: Action
    resource: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request: Request

    @property
    def symbol(self) -> str:
        return MUTATING_SYMBOL[self.action]

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["action"] = self.action.value
        return body


@dataclass(frozen=True)
class Plan:
    profile: str
    endpoint: str
    changes: tuple[Change, ...]
    # What the plan was computed against (None: no endpoint): a saved plan applies only
    # while the endpoint still has this split, etag and these deployed versions.
    expected_split: dict[str, int] | None = None
    expected_etag: str = ""
    expected_versions: dict[str, str] | None = None  # deployed model id -> MODEL@VERSION
    # where it applies, so a saved plan needs no profile: "local" (the emulator) or
    # "vertex"; `beta` for aiplatform_v1beta1 (scale-to-zero)
    target: str = "vertex"
    beta: bool = False

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        counts = {"add": 0, "change": 0, "remove": 0}
        for change in self.changes:
            key = {"+": "add", "~": "change", "-": "remove"}[change.symbol]
            counts[key] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "endpoint": self.endpoint,
                "changes": [c.to_dict() for c in self.changes], "summary": self.summary(),
                "expected_split": self.expected_split, "expected_etag": self.expected_etag,
                "expected_versions": self.expected_versions, "target": self.target,
                "beta": self.beta}


class PlanError(InvalidInputError):
    """The profile asks for something Vertex cannot do to the live resources in place."""


def _endpoint_changes(desired: Desired, live: LiveEndpoint | None, name: str) -> list[Change]:
    want = desired.endpoint
    if live is None:
        config: dict[str, Any] = {"display_name": want.display_name, "kind": want.kind.value,
                  "labels": want.labels, "inference_timeout_s": want.inference_timeout_s}
        if want.psc_project_allowlist:
            config["psc_project_allowlist"] = list(want.psc_project_allowlist)
        if want.network:
            config["network"] = want.network
        return [Change(Action.CREATE_ENDPOINT, name, "endpoint does not exist", None, config,
                       CreateEndpoint(want.endpoint_id, want))]
    if live.kind is not want.kind:
        raise PlanError(
            f"endpoint {want.endpoint_id} is {live.kind.value!r} but the profile asks for "
            f"{want.kind.value!r}; networking is fixed when an endpoint is created",
            hint="run `vxdeploy destroy` first, or choose another endpoint.name")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if _owned_labels(live.labels) != want.labels:
        kept = {k: v for k, v in live.labels.items() if k.startswith(ROLLOUT_LABEL_PREFIX)}
        before["labels"], after["labels"] = live.labels, {**want.labels, **kept}
    if live.display_name != want.display_name:
        before["display_name"], after["display_name"] = live.display_name, want.display_name
    if want.kind is not EndpointKind.PUBLIC and \
            live.inference_timeout_s != want.inference_timeout_s:
        before["inference_timeout_s"] = live.inference_timeout_s
        after["inference_timeout_s"] = want.inference_timeout_s
    if not after:
        return []
    return [Change(Action.UPDATE_ENDPOINT, name, f"{', '.join(after)} changed", before, after,
                   UpdateEndpoint(**after))]


def _resources_dict(desired: Desired) -> dict[str, Any]:
    r = desired.resources
    body: dict[str, Any] = {
        "machine_type": r.machine_type, "min_replicas": r.min_replicas,
        "max_replicas": r.max_replicas, "spot": r.spot,
    }
    if r.accelerator_type:
        body["accelerator"] = f"{r.accelerator_count} x {r.accelerator_type}"
    if r.required_replicas:
        body["required_replicas"] = r.required_replicas
    if r.autoscaling:
        body["autoscaling"] = dict(r.autoscaling)
    if r.scale_to_zero:
        body["scale_to_zero"] = {"min_scaleup_period_s": r.scale_to_zero[0],
                                 "idle_scaledown_period_s": r.scale_to_zero[1]}
    if r.service_account:
        body["service_account"] = r.service_account
    return body


def deploy_request(desired: Desired, version_ref: str = "", initial_share: int = 0
                   ) -> DeployModel:
    """The DeployedModel a profile asks for, on `version_ref`."""
    model = desired.model
    return DeployModel(version_ref, desired.deployed_model_id,
                       f"{model.display_name}-{model.fingerprint[:8]}", desired.resources,
                       initial_share)


def _deploy_change(desired: Desired, name: str, version_ref: str, reason: str,
                   initial_share: int) -> Change:
    after = {"deployed_model_id": desired.deployed_model_id, "model": version_ref,
             **_resources_dict(desired), "traffic_percent": initial_share}
    return Change(Action.DEPLOY_MODEL, f"{name}/deployedModels/{desired.deployed_model_id}",
                  reason, None, after, deploy_request(desired, version_ref, initial_share))


def _candidate_split(stable: LiveDeployedModel, candidate_id: str, share: int) -> dict[str, int]:
    return {stable.id: 100 - share, candidate_id: share} if share < 100 else {candidate_id: 100}


def _stable_of(live: LiveEndpoint, exclude: str) -> LiveDeployedModel | None:
    """Stable among the deployed models other than `exclude`, by the one rule in roles.py."""
    others = [d for d in live.deployed_models if d.id != exclude]
    picked = stable_of(others, live.traffic_split, live.labels)
    return picked[0] if picked else None


def _model_changes(desired: Desired, live: LiveState, name: str) -> list[Change]:
    changes: list[Change] = []
    endpoint = live.endpoint
    want = desired.model
    version = live.matching_version
    model_name = f"projects/{desired.project}/locations/{desired.region}/models/{want.model_id}"
    if version is None:
        changes.append(Change(
            Action.UPLOAD_MODEL, f"{model_name}@{NEW_VERSION}",
            "no version matches the profile's model (fingerprint "
            f"{want.fingerprint})" + ("" if live.model_exists else "; first version"),
            None,
            {"image_uri": want.image_uri, "artifact_uri": want.artifact_uri,
             "container": want.container, "fingerprint": want.fingerprint,
             "aliases": list(want.aliases),
             **({"serving_backend": want.backend} if want.backend else {})},
            UploadModel(want.model_id, live.model_exists, want, desired.staging_bucket)))
        version_ref = f"{model_name}@{NEW_VERSION}"
    else:
        version_ref = version.versioned_name
    dm_id = desired.deployed_model_id
    current = endpoint.deployed(dm_id) if endpoint else None
    if current is not None and endpoint is not None:
        changes.extend(_existing_deployment(desired, endpoint, current, name))
        return changes
    same_version = [d for d in (endpoint.deployed_models if endpoint else ())
                    if d.fingerprint == want.fingerprint]
    if same_version and endpoint is not None:
        changes.extend(_redeploy(desired, endpoint, same_version[0], name, version_ref))
        return changes
    changes.extend(_new_version(desired, endpoint, name, version_ref))
    if version is not None:
        missing = [a for a in want.aliases if a not in version.aliases]
        if missing:
            changes.append(Change(Action.SET_ALIASES, version.versioned_name,
                                  "profile aliases missing", {"aliases": list(version.aliases)},
                                  {"add": missing}, SetAliases(version_ref, tuple(missing))))
    return changes


def _existing_deployment(desired: Desired, endpoint: LiveEndpoint, current: LiveDeployedModel,
                         name: str) -> list[Change]:
    """The desired deployed model is there: fix replicas in place, finish what is unfinished."""
    changes: list[Change] = []
    want = desired.resources.mutable()
    have = current.mutable()
    if want != have:
        changes.append(Change(Action.MUTATE_DEPLOYED_MODEL,
                              f"{name}/deployedModels/{current.id}",
                              "replica bounds or autoscaling targets changed (in place)",
                              have, want, MutateDeployedModel(current.id, desired.resources)))
    others = [d for d in endpoint.deployed_models if d.id != current.id]
    share = endpoint.share(current.id)
    if not others:
        if share != 100:
            changes.append(_set_traffic(endpoint, {current.id: 100},
                                        "the only deployed model must serve all traffic"))
        if STABLE_ALIAS not in current.aliases:
            changes.append(_alias_change(current, _serving(current.aliases), [CANDIDATE_ALIAS],
                                         "the version serving all traffic is stable"))
        return changes
    strategy = desired.strategy
    if strategy is RolloutStrategy.ALL_AT_ONCE or share == 100:
        if share != 100:
            changes.append(_set_traffic(endpoint, {current.id: 100},
                                        "all-at-once: the new version takes all traffic"))
        if STABLE_ALIAS not in current.aliases:
            changes.append(_alias_change(current, _serving(current.aliases), [CANDIDATE_ALIAS],
                                         "the version serving all traffic is stable"))
        if not desired.keep_old_version:
            changes.extend(_undeploy(name, d, "retired: the profile's version serves all "
                                     "traffic") for d in others)
    elif share == 0 and strategy in (RolloutStrategy.CANARY, RolloutStrategy.LINEAR):
        stable = _stable_of(endpoint, current.id)
        if stable is not None and desired.first_step:
            changes.append(_set_traffic(
                endpoint, _candidate_split(stable, current.id, desired.first_step),
                f"{strategy.value}: start the rollout at {desired.first_step}%"))
    return changes


def _redeploy(desired: Desired, endpoint: LiveEndpoint, old: LiveDeployedModel, name: str,
              version_ref: str) -> list[Change]:
    """Same version, different machines: deploy beside it, move its share, undeploy it."""
    changed = sorted(k for k, v in desired.resources.immutable_key().items()
                     if old.immutable_key().get(k) != v)
    share = endpoint.share(old.id)
    changes = [_deploy_change(desired, name, version_ref,
                              f"{', '.join(changed)} cannot change in place: redeploy", 0)]
    split = {k: v for k, v in endpoint.traffic_split.items() if k != old.id and v}
    if share:
        split[desired.deployed_model_id] = share
        changes.append(_set_traffic(endpoint, split, "move the old deployment's traffic"))
    changes.append(_undeploy(name, old, "replaced by the redeployed model"))
    return changes


def _new_version(desired: Desired, endpoint: LiveEndpoint | None, name: str,
                 version_ref: str) -> list[Change]:
    dm_id = desired.deployed_model_id
    live_models = endpoint.deployed_models if endpoint else ()
    if not live_models:
        return [_deploy_change(desired, name, version_ref, "first deployment on the endpoint",
                               100),
                Change(Action.SET_ALIASES, version_ref, "the version serving all traffic is "
                       f"{STABLE_ALIAS}", None, {"add": _serving((), desired.model.aliases)},
                       SetAliases(version_ref, tuple(_serving((), desired.model.aliases))))]
    assert endpoint is not None
    stable = _stable_of(endpoint, dm_id)
    strategy = desired.strategy
    changes = [_deploy_change(desired, name, version_ref,
                              f"new model version ({strategy.value} rollout)", 0)]
    extra = list(desired.model.aliases)
    if strategy is RolloutStrategy.ALL_AT_ONCE:
        changes.append(_set_traffic(endpoint, {dm_id: 100},
                                    "all-at-once: the new version takes all traffic"))
        changes.append(Change(Action.SET_ALIASES, version_ref, "new version is stable", None,
                              {"add": _serving((), extra)},
                              SetAliases(version_ref, tuple(_serving((), extra)),
                                         move_from_others=True)))
        if not desired.keep_old_version:
            changes.extend(_undeploy(name, d, "retired by the all-at-once rollout")
                           for d in live_models)
        return changes
    changes.append(Change(Action.SET_ALIASES, version_ref, "new version is the candidate", None,
                          {"add": [CANDIDATE_ALIAS, *extra]},
                          SetAliases(version_ref, (CANDIDATE_ALIAS, *extra),
                                     move_from_others=True)))
    if strategy in (RolloutStrategy.CANARY, RolloutStrategy.LINEAR) and stable is not None:
        changes.append(_set_traffic(endpoint, _candidate_split(stable, dm_id, desired.first_step),
                                    f"{strategy.value}: first step {desired.first_step}%; "
                                    "continue with `vxdeploy rollout`"))
    return changes


def _serving(have: tuple[str, ...], extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The serving aliases (and the profile's `extra`) a version lacks, in order."""
    return list(dict.fromkeys(a for a in (*SERVING_ALIASES, *extra) if a not in have))


def _set_traffic(endpoint: LiveEndpoint, split: dict[str, int], reason: str) -> Change:
    after = {k: v for k, v in split.items() if v}
    return Change(Action.SET_TRAFFIC, f"{endpoint.name}:trafficSplit", reason,
                  dict(endpoint.traffic_split), after,
                  SetTraffic(after, dict(endpoint.traffic_split)))


def _undeploy(name: str, deployed: LiveDeployedModel, reason: str) -> Change:
    return Change(Action.UNDEPLOY_MODEL, f"{name}/deployedModels/{deployed.id}", reason,
                  {"model": f"{deployed.model}@{deployed.version_id}"}, None,
                  UndeployModel(deployed.id))


def _alias_change(deployed: LiveDeployedModel, add: list[str], remove: list[str],
                  reason: str) -> Change:
    ref = f"{deployed.model}@{deployed.version_id}"
    drop = [a for a in remove if a in deployed.aliases]
    return Change(Action.SET_ALIASES, ref, reason, {"aliases": list(deployed.aliases)},
                  {"add": add, "remove": drop},
                  SetAliases(ref, tuple(add), tuple(drop), move_from_others=True))


def _prune_versions(desired: Desired, live: LiveState, changes: list[Change]) -> list[Change]:
    """Delete the oldest versions beyond `model.keep_versions` that nothing uses.

    Only versions that are deployed nowhere and hold no alias go (Vertex refuses to delete
    the others, and an alias is someone's way back); the version the profile wants and
    those this plan deploys or aliases stay. A version this plan uploads counts.
    """
    keep = desired.model.keep_versions
    if keep is None or not live.versions:
        return []
    uploading = any(c.action is Action.UPLOAD_MODEL for c in changes)
    used = {getattr(c.request, "version", None) for c in changes} | {
        f"{d.model}@{d.version_id}" for d in (live.endpoint.deployed_models
                                              if live.endpoint else ())}
    if live.matching_version is not None:
        used.add(live.matching_version.versioned_name)
    excess = len(live.versions) + int(uploading) - keep
    idle = sorted((v for v in live.versions if not v.deployed and not v.aliases
                   and v.versioned_name not in used),
                  key=lambda v: (int(v.version_id) if v.version_id.isdigit() else 0,
                                 v.version_id))
    return [Change(Action.DELETE_MODEL_VERSION, v.versioned_name,
                   f"model.keep_versions = {keep}: oldest version, not deployed, no alias",
                   {"fingerprint": v.fingerprint}, None, Delete(v.versioned_name))
            for v in idle[:max(0, excess)]]


def _alert_fields(alert: DesiredAlert | LiveAlertPolicy,
                  channels: tuple[str, ...]) -> dict[str, Any]:
    return {"display_name": alert.display_name, "threshold": alert.threshold,
            "duration_s": alert.duration_s, "filter": alert.filter,
            "denominator_filter": alert.denominator_filter, "channels": sorted(channels)}


def _alert_changes(desired: Desired, live: LiveState) -> list[Change]:
    changes: list[Change] = []
    if not desired.alerts_enabled:
        for policy in live.alert_policies.values():
            changes.append(Change(Action.DELETE_ALERT, policy.name, "alerts disabled in profile",
                                  {"display_name": policy.display_name}, None,
                                  Delete(policy.name)))
        return changes
    for alert in desired.alerts:
        missing = [c for c in alert.channels if not live.channels.get(c)]
        if missing:
            raise PlanError(f"alerts.notification_channels: no notification channel named "
                            f"{', '.join(map(repr, missing))} in project {desired.project}",
                            hint="use a channel id (projects/P/notificationChannels/ID) or the "
                            "exact display name of an existing channel")
        resolved = tuple(sorted(str(live.channels[c]) for c in alert.channels))
        want = _alert_fields(alert, resolved)
        current = live.alert_policies.get(alert.kind)
        resource = f"projects/{desired.project}/alertPolicies"
        if current is None:
            changes.append(Change(Action.CREATE_ALERT, f"{resource}/({alert.kind})",
                                  f"no {alert.kind} alert policy for the endpoint", None, want,
                                  CreateAlert(alert, resolved)))
            continue
        have = _alert_fields(current, current.channels)
        if have != want or not current.enabled:
            diff = sorted(k for k in want if want[k] != have.get(k))
            changes.append(Change(Action.UPDATE_ALERT, current.name,
                                  f"{', '.join(diff) or 'enabled'} changed",
                                  {k: have[k] for k in diff}, {k: want[k] for k in diff},
                                  UpdateAlert(alert, resolved, current.name)))
    return changes


def _refuse_rejected(desired: Desired, endpoint: LiveEndpoint | None) -> None:
    """A version a rollout rolled back by itself is not rolled out again by a CI re-run.

    The rollout record in the endpoint labels names the rejected deployed model, whose id
    is derived from the version's fingerprint and machines (`deployed_model_id`): the same
    profile re-planned gives the same id. Only while it serves no traffic: a user who
    moved traffic to it by hand has decided.
    """
    if endpoint is None:
        return
    state = RolloutState.from_labels(endpoint.labels)
    rejected = desired.deployed_model_id
    if state.phase is not Phase.ROLLED_BACK or state.candidate_id != rejected \
            or endpoint.share(rejected):
        return
    raise RolledBackError(
        f"model version {desired.model.fingerprint[:12]} (deployed model {rejected}) was "
        f"rolled back on {endpoint.name}"
        + (f": {state.reason}" if state.reason else "")
        + "; not rolling it out again",
        hint="change the model (a new version gets a new fingerprint), or pass "
             "--retry-rejected to roll this one out once more")


def compute_plan(desired: Desired, live: LiveState, *, retry_rejected: bool = False) -> Plan:
    """The ordered changes that take `live` to `desired`; empty when they already agree.

    Raises RolledBackError when `desired` is a version a rollout rejected, unless
    `retry_rejected`.
    """
    name = f"projects/{desired.project}/locations/{desired.region}/endpoints/" \
           f"{desired.endpoint.endpoint_id}"
    if not retry_rejected:
        _refuse_rejected(desired, live.endpoint)
    changes = [*_endpoint_changes(desired, live.endpoint, name),
               *_model_changes(desired, live, name)]
    changes += [*_prune_versions(desired, live, changes), *_alert_changes(desired, live)]
    return _plan(desired.profile_name, name, changes, live.endpoint, desired.target,
                 beta=desired.resources.scale_to_zero is not None)


def _plan(profile: str, name: str, changes: list[Change], endpoint: LiveEndpoint | None,
          target: str, beta: bool = False) -> Plan:
    """The plan, with what it was computed against: a saved plan is checked against it."""
    return Plan(profile=profile, endpoint=name, changes=tuple(changes),
                expected_split=dict(endpoint.traffic_split) if endpoint else None,
                expected_etag=endpoint.etag if endpoint else "",
                expected_versions=versions_of(endpoint), target=target, beta=beta)


def versions_of(endpoint: LiveEndpoint | None) -> dict[str, str] | None:
    """Deployed model id -> the version it serves; None when there is no endpoint."""
    if endpoint is None:
        return None
    return {d.id: d.versioned_name for d in endpoint.deployed_models}


def compute_destroy(profile: str, name: str, live: LiveState, target: str) -> Plan:
    """Destroy as a plan: traffic off, undeploy all, delete the endpoint, the model this
    tool made and the endpoint's alert policies. Empty when nothing is left."""
    endpoint = live.endpoint
    changes: list[Change] = []
    if endpoint is not None:
        if endpoint.deployed_models and endpoint.traffic_split:
            changes.append(Change(Action.SET_TRAFFIC, f"{endpoint.name}:trafficSplit",
                                  "traffic off before undeploying", dict(endpoint.traffic_split),
                                  {}, SetTraffic({})))
        changes.extend(_undeploy(endpoint.name, d, "destroy") for d in endpoint.deployed_models)
        changes.append(Change(Action.DELETE_ENDPOINT, endpoint.name, "destroy",
                              {"display_name": endpoint.display_name}, None,
                              Delete(endpoint.name)))
    if live.owned_model:
        changes.append(Change(Action.DELETE_MODEL, live.owned_model, "destroy: made by vxdeploy",
                              None, None, Delete(live.owned_model)))
    changes.extend(Change(Action.DELETE_ALERT, p.name, "destroy",
                          {"display_name": p.display_name}, None, Delete(p.name))
                   for p in live.alert_policies.values())
    return _plan(profile, name, changes, endpoint, target)
