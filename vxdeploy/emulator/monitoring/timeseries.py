"""Vertex's prediction metrics computed from recorded predictions, the way Monitoring
answers ListTimeSeries: raw one-minute DELTA points, or aligned and reduced series.

Pure functions over records and plain values; the gRPC layer converts the result.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vxdeploy.emulator.monitoring.distribution import Dist
from vxdeploy.emulator.monitoring.errors import invalid
from vxdeploy.emulator.monitoring.filters import Term, canonical_key, matches
from vxdeploy.emulator.monitoring.metrics import (
    DELTA,
    DISTRIBUTION,
    DOUBLE,
    GAUGE,
    INT64,
    ONLINE,
    RESOURCE_TYPE,
    MetricInfo,
)
from vxdeploy.emulator.monitoring.store import PredictionRecord

RAW_PERIOD_S = 60  # Vertex writes one DELTA point per series per minute
Value = int | float | Dist
Labels = tuple[tuple[str, str], ...]

ALIGNERS = (
    "ALIGN_NONE",
    "ALIGN_DELTA",
    "ALIGN_SUM",
    "ALIGN_RATE",
    "ALIGN_MEAN",
    "ALIGN_COUNT",
    "ALIGN_MIN",
    "ALIGN_MAX",
    "ALIGN_PERCENTILE_99",
    "ALIGN_PERCENTILE_95",
    "ALIGN_PERCENTILE_50",
    "ALIGN_PERCENTILE_05",
)
REDUCERS = (
    "REDUCE_NONE",
    "REDUCE_SUM",
    "REDUCE_MAX",
    "REDUCE_MIN",
    "REDUCE_MEAN",
    "REDUCE_COUNT",
    "REDUCE_PERCENTILE_99",
    "REDUCE_PERCENTILE_95",
    "REDUCE_PERCENTILE_50",
    "REDUCE_PERCENTILE_05",
)


@dataclass(frozen=True)
class Aggregation:
    alignment_period_s: float = 0.0
    aligner: str = "ALIGN_NONE"
    reducer: str = "REDUCE_NONE"
    group_by: tuple[str, ...] = ()


@dataclass
class Point:
    start: float
    end: float
    value: Value


@dataclass
class Series:
    metric_type: str
    metric_labels: Labels
    resource_labels: Labels
    kind: str
    value_type: str
    unit: str
    points: list[Point] = field(default_factory=list)  # newest first

    @property
    def sort_key(self) -> tuple[Labels, Labels]:
        return (self.resource_labels, self.metric_labels)


def _contributions(info: MetricInfo, dm: str, code: int) -> list[tuple[dict[str, str], str]]:
    """The series a request with this deployed model and status adds to, and what it adds:
    "latency" (its latency_ms), "instances" (its instance count) or "one"."""
    name = info.type[len(ONLINE) :]
    if name == "prediction_latencies":
        return [({"deployed_model_id": dm, "latency_type": "total"}, "latency")]
    if name == "prediction_count":
        return [({"deployed_model_id": dm}, "instances")] if 200 <= code < 300 else []
    if name == "error_count":
        return [({"deployed_model_id": dm}, "one")] if code >= 400 else []
    if name == "response_count":
        return [({"deployed_model_id": dm, "response_code": str(code)}, "one")]
    return []


def _value(record: PredictionRecord, what: str) -> float:
    if what == "latency":
        return record.latency_ms
    return record.instance_count if what == "instances" else 1


def _resource_labels(record: PredictionRecord) -> dict[str, str]:
    return {
        "resource_container": record.project,
        "location": record.location,
        "endpoint_id": record.endpoint_id,
    }


def _lookup(metric_type: str, metric: dict[str, str],
            resource: dict[str, str]) -> Callable[[str], str | None]:
    def lookup(key: str) -> str | None:
        if key == "metric.type":
            return metric_type
        if key == "resource.type":
            return RESOURCE_TYPE
        if key.startswith("metric.labels."):
            return metric.get(key[len("metric.labels.") :])
        if key.startswith("resource.labels."):
            return resource.get(key[len("resource.labels.") :])
        if key == "project":
            return resource.get("resource_container")
        return None

    return lookup


def _labels(d: dict[str, str]) -> Labels:
    return tuple(sorted(d.items()))


def _raw_value(info: MetricInfo, values: list[float]) -> Value:
    if info.value_type == DISTRIBUTION:
        return Dist.of(values)
    return int(sum(values))


def build_series(
    info: MetricInfo,
    records: Iterable[PredictionRecord],
    *,
    project: str,
    terms: list[Term],
    start: float,
    end: float,
    aggregation: Aggregation,
) -> list[Series]:
    """All series of `info` matching `terms` in (start, end], aligned and reduced."""
    check_aggregation(info, aggregation)
    # series identity -> list of (timestamp, value)
    grouped: dict[tuple[Labels, Labels], list[tuple[float, float]]] = defaultdict(list)
    # Requests share a handful of label sets: match the filter once per set, not per request.
    plans: dict[tuple[str, str, str, int], list[tuple[tuple[Labels, Labels], str]]] = {}
    for record in records:
        if record.project != project or not start < record.timestamp <= end:
            continue
        key = (record.location, record.endpoint_id, record.deployed_model_id, record.response_code)
        plan = plans.get(key)
        if plan is None:
            resource = _resource_labels(record)
            plan = plans[key] = [
                ((_labels(metric), _labels(resource)), what)
                for metric, what in _contributions(
                    info, record.deployed_model_id, record.response_code
                )
                if matches(terms, _lookup(info.type, metric, resource))
            ]
        for series_key, what in plan:
            grouped[series_key].append((record.timestamp, _value(record, what)))
    series = []
    for (metric_labels, resource_labels), samples in grouped.items():
        s = Series(info.type, metric_labels, resource_labels, info.kind, info.value_type, info.unit)
        if aggregation.aligner == "ALIGN_NONE":
            s.points = _raw_points(info, samples, start, end)
        else:
            s.points = _aligned_points(info, s, samples, start, end, aggregation)
        if s.points:
            series.append(s)
    if aggregation.reducer != "REDUCE_NONE":
        series = _reduce(series, aggregation)
    return sorted(series, key=lambda s: s.sort_key)


def check_aggregation(info: MetricInfo, agg: Aggregation) -> None:
    """INVALID_ARGUMENT for combinations Monitoring refuses, naming the allowed values."""
    if agg.aligner not in ALIGNERS:
        raise invalid(
            f"per_series_aligner {agg.aligner} is not supported by the emulator; "
            f"allowed: {', '.join(ALIGNERS)}"
        )
    if agg.reducer not in REDUCERS:
        raise invalid(
            f"cross_series_reducer {agg.reducer} is not supported by the emulator; "
            f"allowed: {', '.join(REDUCERS)}"
        )
    if agg.aligner != "ALIGN_NONE" and agg.alignment_period_s <= 0:
        raise invalid(f"aggregation.alignment_period is required with {agg.aligner}")
    if agg.reducer != "REDUCE_NONE" and agg.aligner == "ALIGN_NONE":
        raise invalid(
            f"cross_series_reducer {agg.reducer} requires a per_series_aligner "
            "other than ALIGN_NONE"
        )
    if info.value_type == DISTRIBUTION:
        bad_aligner = agg.aligner in ("ALIGN_RATE", "ALIGN_MIN", "ALIGN_MAX")
        if bad_aligner:
            raise invalid(
                f"per_series_aligner {agg.aligner} is not valid for the "
                f"{info.kind} {info.value_type} metric {info.type}"
            )
        keeps_dist = agg.aligner in ("ALIGN_DELTA", "ALIGN_SUM")
        if keeps_dist and agg.reducer in ("REDUCE_MAX", "REDUCE_MIN"):
            raise invalid(
                f"cross_series_reducer {agg.reducer} is not valid for "
                f"DISTRIBUTION values; use REDUCE_SUM or REDUCE_PERCENTILE_*"
            )
    for name in agg.group_by:
        key = canonical_key(name)
        if not (
            key.startswith(("metric.labels.", "resource.labels."))
            or key in ("metric.type", "resource.type")
        ):
            raise invalid(
                f"group_by_fields entry {name!r} must be metric.label.KEY or resource.label.KEY"
            )


def _raw_points(
    info: MetricInfo, samples: list[tuple[float, float]], start: float, end: float
) -> list[Point]:
    minutes: dict[int, list[float]] = defaultdict(list)
    for ts, value in samples:
        minutes[math.floor(ts / RAW_PERIOD_S)].append(value)
    points = []
    for minute, values in minutes.items():
        lo = max(minute * RAW_PERIOD_S, start)
        hi = min((minute + 1) * RAW_PERIOD_S, end)
        points.append(Point(lo, hi, _raw_value(info, values)))
    return sorted(points, key=lambda p: p.end, reverse=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = q / 100.0 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _align(
    info: MetricInfo, aligner: str, samples: list[tuple[float, float]], period: float
) -> Value:
    values = [v for _, v in samples]
    by_minute: dict[int, list[float]] = defaultdict(list)
    for ts, value in samples:
        by_minute[math.floor(ts / RAW_PERIOD_S)].append(value)
    raw = [_raw_value(info, vs) for vs in by_minute.values()]  # the raw points in the period
    if aligner in ("ALIGN_DELTA", "ALIGN_SUM"):
        return _raw_value(info, values)
    if aligner == "ALIGN_RATE":
        return sum(values) / period
    if aligner == "ALIGN_COUNT":
        return len(raw)
    if info.value_type == DISTRIBUTION:
        dist = Dist.of(values)
        if aligner == "ALIGN_MEAN":
            return dist.mean
        return dist.percentile(float(aligner.rsplit("_", 1)[1]))
    numbers = [float(v) for v in raw]  # type: ignore[arg-type]
    if aligner == "ALIGN_MEAN":
        return sum(numbers) / len(numbers)
    if aligner == "ALIGN_MIN":
        return int(min(numbers))
    if aligner == "ALIGN_MAX":
        return int(max(numbers))
    return _percentile(numbers, float(aligner.rsplit("_", 1)[1]))


def aligned_shape(info: MetricInfo, aligner: str) -> tuple[str, str]:
    """(metric kind, value type) of the aligned output, as Monitoring reports it."""
    if aligner in ("ALIGN_DELTA", "ALIGN_SUM"):
        return info.kind, info.value_type
    if aligner in ("ALIGN_COUNT", "ALIGN_MIN", "ALIGN_MAX"):
        return GAUGE, INT64
    return GAUGE, DOUBLE


def _aligned_points(
    info: MetricInfo,
    series: Series,
    samples: list[tuple[float, float]],
    start: float,
    end: float,
    agg: Aggregation,
) -> list[Point]:
    period = agg.alignment_period_s
    series.kind, series.value_type = aligned_shape(info, agg.aligner)
    if series.kind == GAUGE:
        series.unit = "" if agg.aligner == "ALIGN_COUNT" else series.unit
        if agg.aligner == "ALIGN_RATE":
            series.unit = f"{info.unit}/s"
    buckets: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for ts, value in samples:
        # Periods end at `end`, `end - period`, ...: bucket k holds (end-(k+1)p, end-kp].
        buckets[math.floor((end - ts) / period + 1e-9)].append((ts, value))
    points = []
    for k, members in buckets.items():
        hi = end - k * period
        lo = hi - period
        aligned = _align(info, agg.aligner, members, period)
        points.append(Point(hi if series.kind == GAUGE else lo, hi, aligned))
    return sorted(points, key=lambda p: p.end, reverse=True)


def _pick(labels: Labels, prefix: str, group_by: tuple[str, ...]) -> Labels:
    wanted = {
        canonical_key(g)[len(prefix) :] for g in group_by if canonical_key(g).startswith(prefix)
    }
    return tuple((k, v) for k, v in labels if k in wanted)


def _reduce_values(reducer: str, values: list[Value]) -> Value:
    if reducer == "REDUCE_COUNT":
        return len(values)
    if isinstance(values[0], Dist):
        merged = values[0]
        for other in values[1:]:
            merged = merged.merge(other)  # type: ignore[arg-type]
        if reducer == "REDUCE_SUM":
            return merged
        if reducer == "REDUCE_MEAN":
            return merged.mean
        return merged.percentile(float(reducer.rsplit("_", 1)[1]))
    numbers = [float(v) for v in values]  # type: ignore[arg-type]
    integral = all(isinstance(v, int) for v in values)
    if reducer == "REDUCE_SUM":
        return int(sum(numbers)) if integral else sum(numbers)
    if reducer == "REDUCE_MAX":
        return int(max(numbers)) if integral else max(numbers)
    if reducer == "REDUCE_MIN":
        return int(min(numbers)) if integral else min(numbers)
    if reducer == "REDUCE_MEAN":
        return sum(numbers) / len(numbers)
    return _percentile(numbers, float(reducer.rsplit("_", 1)[1]))


def _reduced_type(reducer: str, value_type: str) -> str:
    if reducer == "REDUCE_COUNT":
        return INT64
    if reducer in ("REDUCE_MEAN",) or reducer.startswith("REDUCE_PERCENTILE"):
        return DOUBLE
    return value_type


def _reduce(series: list[Series], agg: Aggregation) -> list[Series]:
    groups: dict[tuple[Labels, Labels], list[Series]] = defaultdict(list)
    for s in series:
        key = (
            _pick(s.metric_labels, "metric.labels.", agg.group_by),
            _pick(s.resource_labels, "resource.labels.", agg.group_by),
        )
        groups[key].append(s)
    out = []
    for (metric_labels, resource_labels), members in groups.items():
        first = members[0]
        value_type = _reduced_type(agg.reducer, first.value_type)
        keeps_kind = agg.reducer in ("REDUCE_SUM", "REDUCE_MIN", "REDUCE_MAX")
        kind = DELTA if keeps_kind and first.kind == DELTA else GAUGE
        at: dict[tuple[float, float], list[Value]] = defaultdict(list)
        for s in members:
            for p in s.points:
                at[(p.start, p.end)].append(p.value)
        points = [
            Point(lo if kind == DELTA else hi, hi, _reduce_values(agg.reducer, vs))
            for (lo, hi), vs in at.items()
        ]
        out.append(
            Series(
                first.metric_type,
                metric_labels,
                resource_labels,
                kind,
                value_type,
                first.unit,
                sorted(points, key=lambda p: p.end, reverse=True),
            )
        )
    return out
