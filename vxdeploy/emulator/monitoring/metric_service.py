"""MetricService.ListTimeSeries (and metric descriptors) over the recorded predictions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vxdeploy.emulator.monitoring.distribution import Dist
from vxdeploy.emulator.monitoring.errors import invalid, not_found
from vxdeploy.emulator.monitoring.filters import equality_value, matches, parse_filter
from vxdeploy.emulator.monitoring.metrics import (
    METRICS,
    RESOURCE_TYPE,
    MetricInfo,
    check_metric_type,
)
from vxdeploy.emulator.monitoring.names import project_of
from vxdeploy.emulator.monitoring.paging import page
from vxdeploy.emulator.monitoring.store import MetricsStore
from vxdeploy.emulator.monitoring.timeseries import Aggregation, Series, build_series

MAX_PAGE = 100_000


def _types() -> Any:
    from google.cloud import monitoring_v3

    return monitoring_v3


def _timestamp(seconds: float) -> Any:
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def _metric_type_lookup(metric_type: str) -> Callable[[str], str | None]:
    """A filter lookup that knows only `metric.type` (descriptors have no other labels)."""
    return lambda key: metric_type if key == "metric.type" else None


def _seconds(stamp: Any) -> float | None:
    """Seconds of a proto-plus DatetimeWithNanoseconds, None when unset."""
    if stamp is None:
        return None
    return float(stamp.timestamp())


def _typed_value(value: Any, value_type: str) -> Any:
    mv3 = _types()
    if isinstance(value, Dist):
        typed = mv3.TypedValue()
        mv3.TypedValue.pb(typed).distribution_value.CopyFrom(value.to_pb())
        return typed
    if value_type == "INT64":
        return mv3.TypedValue(int64_value=int(value))
    return mv3.TypedValue(double_value=float(value))


def _to_pb(series: Series, headers_only: bool) -> Any:
    mv3 = _types()
    from google.api import metric_pb2, monitored_resource_pb2

    ts = mv3.TimeSeries(
        metric=metric_pb2.Metric(type=series.metric_type, labels=dict(series.metric_labels)),
        resource=monitored_resource_pb2.MonitoredResource(
            type=RESOURCE_TYPE, labels=dict(series.resource_labels)
        ),
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.Value(series.kind),
        value_type=metric_pb2.MetricDescriptor.ValueType.Value(series.value_type),
        unit=series.unit,
    )
    if not headers_only:
        ts.points = [
            mv3.Point(
                interval=mv3.TimeInterval(
                    start_time=_timestamp(p.start), end_time=_timestamp(p.end)
                ),
                value=_typed_value(p.value, series.value_type),
            )
            for p in series.points
        ]
    return ts


def _descriptor(info: MetricInfo) -> Any:
    from google.api import label_pb2, metric_pb2

    return metric_pb2.MetricDescriptor(
        name=f"metricDescriptors/{info.type}",
        type=info.type,
        labels=[label_pb2.LabelDescriptor(key=k) for k in info.labels],
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.Value(info.kind),
        value_type=metric_pb2.MetricDescriptor.ValueType.Value(info.value_type),
        unit=info.unit,
        description=info.description,
        monitored_resource_types=[RESOURCE_TYPE],
    )


class MetricService:
    """The request logic of the google.monitoring.v3.MetricService methods served."""

    def __init__(self, store: MetricsStore):
        self._store = store

    def list_time_series(self, request: Any) -> Any:
        project = project_of(request.name)
        if not request.filter:
            raise invalid('filter is required, e.g. metric.type = "TYPE"')
        terms = parse_filter(request.filter)
        metric_type = equality_value(terms, "metric.type")
        if metric_type is None:
            raise invalid(
                f'filter must name exactly one metric type (metric.type = "TYPE"); '
                f"got {request.filter!r}"
            )
        try:
            info = check_metric_type(metric_type)
        except ValueError as exc:
            raise invalid(str(exc)) from exc
        end = _seconds(request.interval.end_time) if "interval" in request else None
        if not end:
            raise invalid("interval.end_time is required")
        start = _seconds(request.interval.start_time)
        start = start if start else end - 60  # unset start: the point in time `end`
        if start > end:
            raise invalid("interval.start_time must not be after interval.end_time")
        aggregation = self._aggregation(request)
        if "secondary_aggregation" in request:
            raise invalid(
                "secondary_aggregation is not supported by the emulator; "
                "use aggregation (alignment_period, per_series_aligner, cross_series_reducer)"
            )
        mv3 = _types()
        if info is None or not info.computed:
            series: list[Series] = []
        else:
            series = build_series(
                info,
                self._store.visible(time.time()),
                project=project,
                terms=terms,
                start=start,
                end=end,
                aggregation=aggregation,
            )
        headers_only = request.view == mv3.ListTimeSeriesRequest.TimeSeriesView.HEADERS
        items, token = page(
            series, request.page_size, request.page_token, default_size=MAX_PAGE, max_size=MAX_PAGE
        )
        return mv3.ListTimeSeriesResponse(
            time_series=[_to_pb(s, headers_only) for s in items],
            next_page_token=token,
            unit=info.unit if info else "",
        )

    @staticmethod
    def _aggregation(request: Any) -> Aggregation:
        if "aggregation" not in request:
            return Aggregation()
        agg = request.aggregation
        period = agg.alignment_period.total_seconds() if "alignment_period" in agg else 0.0
        return Aggregation(
            alignment_period_s=period,
            aligner=agg.per_series_aligner.name,
            reducer=agg.cross_series_reducer.name,
            group_by=tuple(agg.group_by_fields),
        )

    def list_metric_descriptors(self, request: Any) -> Any:
        project_of(request.name)
        terms = parse_filter(request.filter)
        found = [
            _descriptor(info)
            for info in METRICS.values()
            if matches(terms, _metric_type_lookup(info.type))
        ]
        for d in found:
            d.name = f"{request.name}/metricDescriptors/{d.type}"
        items, token = page(
            found, request.page_size, request.page_token, default_size=1000, max_size=10000
        )
        return _types().ListMetricDescriptorsResponse(
            metric_descriptors=items, next_page_token=token
        )

    def get_metric_descriptor(self, request: Any) -> Any:
        marker = "/metricDescriptors/"
        if marker not in request.name:
            raise invalid(
                f"name {request.name!r} must look like projects/P/metricDescriptors/METRIC_TYPE"
            )
        parent, metric_type = request.name.split(marker, 1)
        project_of(parent)
        info = METRICS.get(metric_type)
        if info is None:
            raise not_found(f"metric descriptor {metric_type} does not exist")
        descriptor = _descriptor(info)
        descriptor.name = request.name
        return descriptor
