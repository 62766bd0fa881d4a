"""Reading live state: the endpoint, its deployed models' versions, the matching model
version, alert policies and notification channels.

The number of calls depends on what is deployed (usually one or two models), never on how
many versions the model has: the version with the desired fingerprint is found with a
label filter, not by listing them all.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from vxdeploy.desired import MANAGED_BY, TOOL, Desired
from vxdeploy.live import (
    LiveAlertPolicy,
    LiveDeployedModel,
    LiveEndpoint,
    LiveModelVersion,
    LiveState,
)
from vxdeploy.names import ALERT_KIND_LABEL, ENDPOINT_LABEL, FINGERPRINT_LABEL
from vxdeploy.profile.model import EndpointKind
from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import call_api, canonical_status

DEFAULT_INFERENCE_TIMEOUT_S = 60


def _seconds(duration: Any) -> int:
    if duration is None:
        return 0
    if hasattr(duration, "total_seconds"):
        return int(duration.total_seconds())
    return int(getattr(duration, "seconds", 0))


def endpoint_kind(endpoint: Any) -> EndpointKind:
    psc = endpoint.private_service_connect_config
    if endpoint.enable_private_service_connect or (psc and psc.enable_private_service_connect):
        return EndpointKind.PSC
    if endpoint.network:
        return EndpointKind.VPC_PEERING
    if endpoint.dedicated_endpoint_enabled:
        return EndpointKind.DEDICATED
    return EndpointKind.PUBLIC


def _deployed_model(dm: Any, version: Any | None) -> LiveDeployedModel:
    resources = dm.dedicated_resources
    spec = resources.machine_spec
    accelerator = spec.accelerator_type.name if spec.accelerator_type else ""
    if accelerator == "ACCELERATOR_TYPE_UNSPECIFIED":
        accelerator = ""
    stz = getattr(resources, "scale_to_zero_spec", None)
    scale_to_zero = None
    if resources.min_replica_count == 0 and stz is not None and (
            stz.min_scaleup_period or stz.idle_scaledown_period):
        scale_to_zero = (_seconds(stz.min_scaleup_period), _seconds(stz.idle_scaledown_period))
    model = dm.model.split("@", 1)[0]
    return LiveDeployedModel(
        id=dm.id,
        model=model,
        version_id=dm.model_version_id or (dm.model.split("@", 1)[1] if "@" in dm.model else ""),
        display_name=dm.display_name,
        machine_type=spec.machine_type,
        accelerator_type=accelerator,
        accelerator_count=spec.accelerator_count if accelerator else 0,
        min_replicas=resources.min_replica_count,
        max_replicas=resources.max_replica_count,
        required_replicas=resources.required_replica_count,
        spot=resources.spot,
        service_account=dm.service_account,
        autoscaling={s.metric_name: s.target for s in resources.autoscaling_metric_specs},
        scale_to_zero=scale_to_zero,
        fingerprint=dict(version.labels).get(FINGERPRINT_LABEL, "") if version else "",
        aliases=tuple(version.version_aliases) if version else (),
        create_time=epoch(getattr(dm, "create_time", None)),
    )


def epoch(timestamp: Any) -> float:
    """A proto timestamp as epoch seconds; 0.0 when absent (sorts oldest)."""
    if timestamp is None:
        return 0.0
    try:
        return float(timestamp.timestamp())
    except (AttributeError, ValueError, OverflowError):
        return 0.0


def _not_found(error: BaseException) -> bool:
    return canonical_status(error) == "NOT_FOUND"


def read_endpoint(conn: Connection, endpoint_id: str, state: LiveState) -> LiveEndpoint | None:
    """The endpoint and the versions its models serve; None when there is no endpoint."""
    return read_endpoint_named(conn, conn.endpoint_name(endpoint_id), state)


def read_endpoint_named(conn: Connection, name: str, state: LiveState) -> LiveEndpoint | None:
    state.api_calls += 1
    endpoint = call_api(f"get endpoint {name}",
                        lambda: _get_raw(conn.endpoints.get_endpoint, name, conn.timeout))
    return None if endpoint is None else live_endpoint(conn, endpoint, state)


def live_endpoint(conn: Connection, endpoint: Any, state: LiveState) -> LiveEndpoint:
    """A GAPIC Endpoint (a GET's or an update's answer) as the one live picture."""
    versions: dict[str, Any] = {}  # one GetModel per distinct deployed version
    deployed = []
    for dm in endpoint.deployed_models:
        ref = f"{dm.model.split('@', 1)[0]}@{dm.model_version_id}" if dm.model_version_id \
            else dm.model
        if ref not in versions:
            state.api_calls += 1
            versions[ref] = call_api(f"get model {ref}",
                                     partial(_get_raw, conn.models.get_model, ref,
                                             conn.timeout))
        deployed.append(_deployed_model(dm, versions[ref]))
    kind = endpoint_kind(endpoint)
    timeout = _seconds(endpoint.client_connection_config.inference_timeout) \
        if endpoint.client_connection_config else 0
    psc = endpoint.private_service_connect_config
    return LiveEndpoint(
        name=endpoint.name,
        endpoint_id=endpoint.name.rsplit("/", 1)[-1],
        display_name=endpoint.display_name,
        labels=dict(endpoint.labels),
        etag=endpoint.etag,
        traffic_split={k: int(v) for k, v in endpoint.traffic_split.items() if v},
        deployed_models=tuple(deployed),
        kind=kind,
        inference_timeout_s=timeout or DEFAULT_INFERENCE_TIMEOUT_S,
        psc_project_allowlist=tuple(psc.project_allowlist) if psc else (),
        network=endpoint.network,
        traffic_written={k: int(v) for k, v in endpoint.traffic_split.items()},
    )


def _get_raw(method: Any, name: str, timeout: float) -> Any | None:
    """GET that answers None for NOT_FOUND instead of raising."""
    from google.api_core import exceptions as gexc

    try:
        return method(name=name, timeout=timeout)
    except gexc.NotFound:
        return None


def find_version(conn: Connection, model_id: str, fingerprint: str,
                 state: LiveState) -> tuple[bool, LiveModelVersion | None]:
    """(model exists, the version carrying `fingerprint`) with one filtered list call."""
    name = conn.model_name(model_id)
    state.api_calls += 1

    def first_match() -> Any:
        pager = conn.models.list_model_versions(
            request={"name": name, "filter": f"labels.{FINGERPRINT_LABEL}={fingerprint}",
                     "page_size": 10}, timeout=conn.timeout)
        return next(iter(pager), None)

    try:
        found = call_api(f"list versions of {name}", _raise_not_found(first_match))
    except _ModelMissing:
        return False, None
    if found is None:
        return True, None
    return True, LiveModelVersion(model=name, version_id=found.version_id,
                                  fingerprint=fingerprint,
                                  aliases=tuple(found.version_aliases),
                                  labels=dict(found.labels))


def list_versions(conn: Connection, model_id: str,
                  state: LiveState) -> tuple[LiveModelVersion, ...]:
    """Every version of the model (for `model.keep_versions`); () when there is no model."""
    name = conn.model_name(model_id)
    state.api_calls += 1

    def every() -> list[Any]:
        return list(conn.models.list_model_versions(request={"name": name, "page_size": 100},
                                                    timeout=conn.timeout))

    try:
        found = call_api(f"list versions of {name}", _raise_not_found(every))
    except _ModelMissing:
        return ()
    return tuple(LiveModelVersion(model=name, version_id=v.version_id,
                                  fingerprint=dict(v.labels).get(FINGERPRINT_LABEL, ""),
                                  aliases=tuple(v.version_aliases), labels=dict(v.labels),
                                  deployed=bool(v.deployed_models))
                 for v in found)


class _ModelMissing(Exception):
    pass


def _raise_not_found(call: Any) -> Any:
    from google.api_core import exceptions as gexc

    def wrapped() -> Any:
        try:
            return call()
        except gexc.NotFound as error:
            raise _ModelMissing() from error

    return wrapped


def _policy(policy: Any) -> LiveAlertPolicy | None:
    labels = dict(policy.user_labels)
    kind = labels.get(ALERT_KIND_LABEL)
    if not kind or not policy.conditions:
        return None
    threshold = policy.conditions[0].condition_threshold
    enabled = policy.enabled
    enabled_value = getattr(enabled, "value", enabled)
    return LiveAlertPolicy(
        name=policy.name,
        kind=kind,
        display_name=policy.display_name,
        threshold=float(threshold.threshold_value),
        duration_s=_seconds(threshold.duration),
        filter=threshold.filter,
        denominator_filter=threshold.denominator_filter,
        channels=tuple(sorted(policy.notification_channels)),
        enabled=True if enabled_value is None else bool(enabled_value),
    )


def read_alert_policies(conn: Connection, endpoint_id: str,
                        state: LiveState) -> dict[str, LiveAlertPolicy]:
    state.api_calls += 1
    policies = call_api("list alert policies", lambda: list(
        conn.alert_policies.list_alert_policies(
            request={"name": conn.monitoring_project}, timeout=conn.timeout)))
    found: dict[str, LiveAlertPolicy] = {}
    for raw in policies:
        if dict(raw.user_labels).get(ENDPOINT_LABEL) != endpoint_id:
            continue
        policy = _policy(raw)
        if policy:
            found[policy.kind] = policy
    return found


def resolve_channels(conn: Connection, wanted: tuple[str, ...],
                     state: LiveState) -> dict[str, str | None]:
    """Channels by resource name or display name -> resource name (None when not found)."""
    if not wanted:
        return {}
    state.api_calls += 1
    channels = call_api("list notification channels", lambda: list(
        conn.notification_channels.list_notification_channels(
            request={"name": conn.monitoring_project}, timeout=conn.timeout)))
    by_name = {c.name: c.name for c in channels}
    by_display = {c.display_name: c.name for c in channels}
    return {w: by_name.get(w) or by_name.get(f"{conn.monitoring_project}/notificationChannels/{w}")
            or by_display.get(w) for w in wanted}


def read_owned_model(conn: Connection, model_id: str, state: LiveState) -> str:
    """The model's name when it exists and this tool made it (destroy deletes only those)."""
    name = conn.model_name(model_id)
    state.api_calls += 1
    model = call_api(f"get model {name}",
                     lambda: _get_raw(conn.models.get_model, name, conn.timeout))
    return name if model is not None and dict(model.labels).get(MANAGED_BY) == TOOL else ""


def read_destroy_state(conn: Connection, endpoint_id: str, model_id: str) -> LiveState:
    """What destroy would remove: the endpoint, the tool's model, the endpoint's alerts."""
    state = LiveState()
    state.endpoint = read_endpoint(conn, endpoint_id, state)
    state.owned_model = read_owned_model(conn, model_id, state)
    state.alert_policies = read_alert_policies(conn, endpoint_id, state)
    return state


def read_live_state(conn: Connection, desired: Desired) -> LiveState:
    """Everything the plan needs to know about what exists now."""
    state = LiveState()
    state.endpoint = read_endpoint(conn, desired.endpoint.endpoint_id, state)
    state.model_exists, state.matching_version = find_version(
        conn, desired.model.model_id, desired.model.fingerprint, state)
    if desired.model.keep_versions is not None and state.model_exists:
        state.versions = list_versions(conn, desired.model.model_id, state)
    state.alert_policies = read_alert_policies(conn, desired.endpoint.endpoint_id, state)
    channels = tuple(sorted({c for a in desired.alerts for c in a.channels}))
    if desired.alerts_enabled:
        state.channels = resolve_channels(conn, channels, state)
    return state
