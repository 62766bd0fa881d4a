"""AlertPolicyService: CRUD with the validation real Cloud Monitoring applies.

vxdeploy installs p99-latency and error-rate policies per deployment; catching a bad
filter or duration here is what makes `deploy` against the emulator a real rehearsal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vxdeploy.emulator.monitoring.collection import Collection, new_id
from vxdeploy.emulator.monitoring.errors import ApiError, invalid, not_found
from vxdeploy.emulator.monitoring.filters import equality_value, matches, parse_filter
from vxdeploy.emulator.monitoring.metrics import check_metric_type
from vxdeploy.emulator.monitoring.names import child_of, project_of
from vxdeploy.emulator.monitoring.paging import page
from vxdeploy.emulator.monitoring.timeseries import (
    ALIGNERS,
    REDUCERS,
    Aggregation,
    check_aggregation,
)

MAX_CONDITIONS = 6
ACTOR = "vxdeploy-emulator"


def _types() -> Any:
    from google.cloud import monitoring_v3

    return monitoring_v3


def _now_record() -> Any:
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return _types().MutationRecord(mutate_time=stamp, mutated_by=ACTOR)


def _seconds(duration: Any) -> float:
    return duration.total_seconds() if hasattr(duration, "total_seconds") else 0.0


def _check_aggregations(where: str, aggregations: Any, info: Any) -> None:
    for i, agg in enumerate(aggregations):
        aligner = agg.per_series_aligner.name
        reducer = agg.cross_series_reducer.name
        period = _seconds(agg.alignment_period)
        field = f"{where}.aggregations[{i}]"
        if aligner != "ALIGN_NONE" and period < 60:
            raise invalid(f"{field}.alignment_period must be at least 60s, got {period:g}s")
        if aligner not in ALIGNERS:
            raise invalid(f"{field}.per_series_aligner {aligner}: allowed {', '.join(ALIGNERS)}")
        if reducer not in REDUCERS:
            raise invalid(f"{field}.cross_series_reducer {reducer}: allowed {', '.join(REDUCERS)}")
        if info is not None:
            try:
                check_aggregation(
                    info,
                    Aggregation(period or 60.0, aligner, reducer, tuple(agg.group_by_fields)),
                )
            except ApiError as exc:
                raise invalid(f"{field}: {exc.message}") from exc


def _check_metric_filter(where: str, text: str) -> Any:
    if not text:
        raise invalid(f"{where}.filter is required")
    terms = parse_filter(text)
    metric_type = equality_value(terms, "metric.type")
    if metric_type is None:
        raise invalid(f'{where}.filter must select one metric: metric.type = "TYPE"; got {text!r}')
    try:
        return check_metric_type(metric_type)
    except ValueError as exc:
        raise invalid(f"{where}.filter: {exc}") from exc


def _check_duration(where: str, duration: Any) -> None:
    seconds = _seconds(duration)
    if seconds < 0 or seconds % 60:
        raise invalid(
            f"{where}.duration must be a multiple of 60s (0s, 60s, 120s, ...), got {seconds:g}s"
        )


def validate_condition(where: str, condition: Any) -> None:
    if not condition.display_name:
        raise invalid(f"{where}.display_name is required")
    kind = type(condition).pb(condition).WhichOneof("condition")
    if kind is None:
        raise invalid(
            f"{where} needs one of condition_threshold, condition_absent, "
            "condition_matched_log, condition_monitoring_query_language, "
            "condition_prometheus_query_language"
        )
    if kind == "condition_threshold":
        spec = condition.condition_threshold
        sub = f"{where}.condition_threshold"
        info = _check_metric_filter(sub, spec.filter)
        _check_aggregations(sub, spec.aggregations, info)
        _check_duration(sub, spec.duration)
        if spec.comparison.name == "COMPARISON_UNSPECIFIED":
            raise invalid(f"{sub}.comparison is required (COMPARISON_GT, COMPARISON_LT, ...)")
        if spec.denominator_filter:
            _check_metric_filter(f"{sub}.denominator", spec.denominator_filter)
    elif kind == "condition_absent":
        spec = condition.condition_absent
        sub = f"{where}.condition_absent"
        info = _check_metric_filter(sub, spec.filter)
        _check_aggregations(sub, spec.aggregations, info)
        _check_duration(sub, spec.duration)
        if _seconds(spec.duration) < 120:
            raise invalid(f"{sub}.duration must be at least 120s")
    elif kind == "condition_matched_log" and not condition.condition_matched_log.filter:
        raise invalid(f"{where}.condition_matched_log.filter is required")
    elif kind.endswith("_query_language") and not getattr(condition, kind).query:
        raise invalid(f"{where}.{kind}.query is required")


class AlertPolicies:
    """The request logic of google.monitoring.v3.AlertPolicyService."""

    def __init__(self, state_dir: Path, channel_exists: Any = lambda name: True):
        mv3 = _types()
        self._policies: Collection[Any] = Collection(
            Path(state_dir) / "monitoring" / "alert_policies.json", mv3.AlertPolicy
        )
        self._channel_exists = channel_exists

    def uses_channel(self, channel_name: str) -> list[str]:
        return [p.name for p in self._policies.values() if channel_name in p.notification_channels]

    def forget_channel(self, channel_name: str) -> None:
        """Remove a (force-)deleted channel from every policy that names it."""
        with self._policies.lock:
            for policy in self._policies.values():
                if channel_name in policy.notification_channels:
                    kept = [c for c in policy.notification_channels if c != channel_name]
                    policy.notification_channels = kept
                    policy.mutation_record = _now_record()
                    self._policies.put(policy.name, policy)

    def _validate(self, policy: Any, project: str) -> None:
        if not policy.display_name:
            raise invalid("alert_policy.display_name is required")
        if len(policy.display_name) > 512:
            raise invalid("alert_policy.display_name is longer than 512 characters")
        if not policy.conditions:
            raise invalid("alert_policy.conditions: at least one condition is required")
        if len(policy.conditions) > MAX_CONDITIONS:
            raise invalid(f"alert_policy.conditions: at most {MAX_CONDITIONS} are allowed")
        for i, condition in enumerate(policy.conditions):
            validate_condition(f"alert_policy.conditions[{i}]", condition)
        if len(policy.conditions) > 1 and policy.combiner.name == "COMBINE_UNSPECIFIED":
            raise invalid(
                "alert_policy.combiner is required with more than one condition "
                "(AND, OR, AND_WITH_MATCHING_RESOURCE)"
            )
        for channel in policy.notification_channels:
            channel_project, _ = child_of(
                channel, "notificationChannels", field="alert_policy.notification_channels[]"
            )
            if channel_project != project or not self._channel_exists(channel):
                raise not_found(f"notification channel {channel} does not exist")

    def _name_conditions(self, policy: Any, previous: Any | None) -> None:
        known = {c.name for c in previous.conditions} if previous is not None else set()
        for i, condition in enumerate(policy.conditions):
            if condition.name:
                if condition.name not in known:
                    raise invalid(
                        f"alert_policy.conditions[{i}].name {condition.name!r} is not a "
                        "condition of this policy; leave it empty for a new condition"
                    )
            else:
                condition.name = f"{policy.name}/conditions/{new_id()}"

    def create(self, request: Any) -> Any:
        project = project_of(request.name)
        policy = request.alert_policy
        self._validate(policy, project)
        policy.name = f"projects/{project}/alertPolicies/{new_id()}"
        for condition in policy.conditions:
            condition.name = ""
        self._name_conditions(policy, None)
        if "enabled" not in policy:
            policy.enabled = True
        record = _now_record()
        policy.creation_record = record
        policy.mutation_record = record
        self._policies.put(policy.name, policy)
        return policy

    def get(self, request: Any) -> Any:
        child_of(request.name, "alertPolicies")
        policy = self._policies.get(request.name)
        if policy is None:
            raise not_found(f"alert policy {request.name} does not exist")
        return policy

    def list(self, request: Any) -> Any:
        project = project_of(request.name)
        terms = parse_filter(request.filter)
        prefix = f"projects/{project}/alertPolicies/"

        def lookup(policy: Any) -> Callable[[str], str | None]:
            def get(key: str) -> str | None:
                if key in ("display_name", "name"):
                    return str(getattr(policy, key))
                if key == "enabled":
                    return "true" if policy.enabled else "false"
                if key.startswith("user_labels."):
                    label: str | None = policy.user_labels.get(key[len("user_labels.") :])
                    return label
                if key == "severity":
                    return str(policy.severity.name)
                return None

            return get

        found = self._policies.values(
            lambda p: p.name.startswith(prefix) and matches(terms, lookup(p))
        )
        sort_by(found, request.order_by, ("display_name", "name"))
        items, token = page(
            found, request.page_size, request.page_token, default_size=100, max_size=1000
        )
        return _types().ListAlertPoliciesResponse(
            alert_policies=items, next_page_token=token, total_size=len(found)
        )

    def update(self, request: Any) -> Any:
        from google.protobuf import field_mask_pb2

        mv3 = _types()
        incoming = request.alert_policy
        child_of(incoming.name, "alertPolicies", field="alert_policy.name")
        with self._policies.lock:
            current = self._policies.get(incoming.name)
            if current is None:
                raise not_found(f"alert policy {incoming.name} does not exist")
            paths = list(request.update_mask.paths) if "update_mask" in request else []
            if paths:
                descriptor = mv3.AlertPolicy.pb().DESCRIPTOR
                for path in paths:
                    top = path.split(".", 1)[0]
                    if top not in descriptor.fields_by_name or top in (
                        "name",
                        "creation_record",
                        "mutation_record",
                    ):
                        raise invalid(
                            f"update_mask path {path!r} is not an updatable field of AlertPolicy"
                        )
                merged = mv3.AlertPolicy.pb(current)
                mask = field_mask_pb2.FieldMask(paths=paths)
                mask.MergeMessage(mv3.AlertPolicy.pb(incoming), merged, True, True)
                updated = mv3.AlertPolicy.wrap(merged)
            else:
                updated = mv3.AlertPolicy.deserialize(mv3.AlertPolicy.serialize(incoming))
                updated.creation_record = current.creation_record
                if "enabled" not in updated:
                    updated.enabled = True
            updated.name = current.name
            self._validate(updated, child_of(current.name, "alertPolicies")[0])
            self._name_conditions(updated, current)
            updated.mutation_record = _now_record()
            self._policies.put(updated.name, updated)
            return updated

    def delete(self, request: Any) -> Any:
        child_of(request.name, "alertPolicies")
        if not self._policies.delete(request.name):
            raise not_found(f"alert policy {request.name} does not exist")
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()


def sort_by(items: list[Any], order_by: str, allowed: tuple[str, ...]) -> None:
    """Sort in place by `order_by` ("display_name", "-display_name", ...); default by name."""
    text = (order_by or "name").strip()
    descending = text.startswith("-")
    field = text.lstrip("-").split()[0] if text.lstrip("-") else "name"
    if text.lower().endswith(" desc"):
        descending = True
    if field not in allowed:
        raise invalid(f"order_by {order_by!r}: allowed fields {', '.join(allowed)}")
    items.sort(key=lambda item: (getattr(item, field), item.name), reverse=descending)
