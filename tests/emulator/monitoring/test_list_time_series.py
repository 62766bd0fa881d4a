"""ListTimeSeries over recorded predictions, read with the real MetricServiceClient."""

from __future__ import annotations

import math
import time

import pytest
from google.api.metric_pb2 import MetricDescriptor
from google.api_core import exceptions
from google.cloud import monitoring_v3 as m

from vxdeploy.emulator.monitoring import MetricsStore
from vxdeploy.emulator.monitoring.distribution import bucket_index, lower_bound, upper_bound

ONLINE = "aiplatform.googleapis.com/prediction/online/"
PARENT = "projects/demo"
Aligner = m.Aggregation.Aligner
Reducer = m.Aggregation.Reducer
# A minute boundary an hour ago: every timestamp below is exact and in the past.
T0 = math.floor(time.time() / 60) * 60 - 3600


def _record(
    store: MetricsStore,
    at: float,
    dm: str = "1",
    code: int = 200,
    latency: float = 10.0,
    endpoint: str = "100",
    instances: int = 1,
    project: str = "demo",
) -> None:
    store.record(
        project=project,
        location="us-central1",
        endpoint_id=endpoint,
        deployed_model_id=dm,
        latency_ms=latency,
        response_code=code,
        timestamp=at,
        instance_count=instances,
    )


def _list(
    mon, metric: str, *, start: float = T0 - 60, end: float = T0 + 600, extra: str = "", **request
) -> list[m.TimeSeries]:
    interval = m.TimeInterval(start_time={"seconds": int(start)}, end_time={"seconds": int(end)})
    flt = f'metric.type = "{ONLINE}{metric}"' + (f" AND {extra}" if extra else "")
    return list(
        mon.metrics.list_time_series(
            request=m.ListTimeSeriesRequest(name=PARENT, filter=flt, interval=interval, **request)
        )
    )


def _total(series: m.TimeSeries) -> int:
    return sum(p.value.int64_value for p in series.points)


def test_counts_from_recorded_predictions(mon) -> None:
    for i in range(30):
        _record(mon.store, T0 + i, instances=2)
    for i in range(5):
        _record(mon.store, T0 + 40 + i, code=500)
    for i in range(3):
        _record(mon.store, T0 + 50 + i, code=400)
    for i in range(10):
        _record(mon.store, T0 + i, dm="2")
    _record(mon.store, T0 + 1, project="other")  # another project is never visible

    counts = {
        s.metric.labels["deployed_model_id"]: _total(s) for s in _list(mon, "prediction_count")
    }
    assert counts == {"1": 60, "2": 10}  # instances in successful requests
    errors = {s.metric.labels["deployed_model_id"]: _total(s) for s in _list(mon, "error_count")}
    assert errors == {"1": 8}  # 4xx and 5xx alike
    responses = {
        (s.metric.labels["deployed_model_id"], s.metric.labels["response_code"]): _total(s)
        for s in _list(mon, "response_count")
    }
    assert responses == {("1", "200"): 30, ("1", "500"): 5, ("1", "400"): 3, ("2", "200"): 10}

    series = _list(mon, "prediction_count", extra='metric.labels.deployed_model_id = "2"')
    assert len(series) == 1
    s = series[0]
    assert s.resource.type == "aiplatform.googleapis.com/Endpoint"
    assert dict(s.resource.labels) == {
        "resource_container": "demo",
        "location": "us-central1",
        "endpoint_id": "100",
    }
    assert s.metric_kind == MetricDescriptor.DELTA and s.value_type == MetricDescriptor.INT64
    assert _list(mon, "prediction_count", extra='resource.labels.endpoint_id = "999"') == []


def test_raw_points_are_one_minute_deltas_newest_first(mon) -> None:
    for minute, n in enumerate((3, 0, 5)):
        for i in range(n):
            _record(mon.store, T0 + minute * 60 + 1 + i)
    (series,) = _list(mon, "prediction_count")
    got = [
        (p.interval.start_time.timestamp(), p.interval.end_time.timestamp(), p.value.int64_value)
        for p in series.points
    ]
    assert got == [(T0 + 120, T0 + 180, 5), (T0, T0 + 60, 3)]


def test_interval_start_is_exclusive_and_end_inclusive(mon) -> None:
    for at in (T0, T0 + 10, T0 + 20):
        _record(mon.store, at)
    (series,) = _list(mon, "prediction_count", start=T0, end=T0 + 20)
    assert _total(series) == 2
    (series,) = _list(mon, "prediction_count", start=T0 - 1, end=T0 + 10)
    assert _total(series) == 2
    with pytest.raises(exceptions.InvalidArgument, match="start_time must not be after"):
        _list(mon, "prediction_count", start=T0 + 10, end=T0)


def test_latency_distribution_and_percentiles(mon) -> None:
    latencies = [float(v) for v in range(1, 1001)]  # 1..1000 ms
    for i, latency in enumerate(latencies):
        _record(mon.store, T0 + 1 + (i % 50), latency=latency)
    (raw,) = _list(mon, "prediction_latencies", extra='metric.labels.latency_type = "total"')
    assert dict(raw.metric.labels) == {"deployed_model_id": "1", "latency_type": "total"}
    assert raw.unit == "ms"
    dist = raw.points[0].value.distribution_value
    assert dist.count == 1000
    assert dist.mean == pytest.approx(500.5)
    assert sum(dist.bucket_counts) == 1000
    assert dist.bucket_options.exponential_buckets.growth_factor > 1

    agg = {"alignment_period": {"seconds": 600}}
    for aligner, truth in (
        (Aligner.ALIGN_PERCENTILE_99, 990.0),
        (Aligner.ALIGN_PERCENTILE_50, 500.0),
    ):
        (series,) = _list(
            mon,
            "prediction_latencies",
            end=T0 + 600,
            aggregation={**agg, "per_series_aligner": aligner},
        )
        (point,) = series.points
        value = point.value.double_value
        bucket = bucket_index(truth)
        assert lower_bound(bucket) <= value <= upper_bound(bucket), (aligner, value)
        assert series.value_type == MetricDescriptor.DOUBLE
        assert series.metric_kind == MetricDescriptor.GAUGE
        assert point.interval.start_time == point.interval.end_time  # a GAUGE point
    (mean,) = _list(
        mon,
        "prediction_latencies",
        end=T0 + 600,
        aggregation={**agg, "per_series_aligner": Aligner.ALIGN_MEAN},
    )
    assert mean.points[0].value.double_value == pytest.approx(500.5)


def test_alignment_buckets_end_at_the_interval_end(mon) -> None:
    # 4 requests at minute 0, 6 at minute 1, 2 at minute 3
    for offset, n in ((0, 4), (60, 6), (180, 2)):
        for i in range(n):
            _record(mon.store, T0 + offset + 5 + i)
    end = T0 + 240
    agg = {"alignment_period": {"seconds": 120}}
    (delta,) = _list(
        mon,
        "prediction_count",
        start=T0,
        end=end,
        aggregation={**agg, "per_series_aligner": Aligner.ALIGN_DELTA},
    )
    got = [
        (p.interval.start_time.timestamp(), p.interval.end_time.timestamp(), p.value.int64_value)
        for p in delta.points
    ]
    assert got == [(T0 + 120, T0 + 240, 2), (T0, T0 + 120, 10)]
    (rate,) = _list(
        mon,
        "prediction_count",
        start=T0,
        end=end,
        aggregation={**agg, "per_series_aligner": Aligner.ALIGN_RATE},
    )
    assert [p.value.double_value for p in rate.points] == [
        pytest.approx(2 / 120),
        pytest.approx(10 / 120),
    ]
    (count,) = _list(
        mon,
        "prediction_count",
        start=T0,
        end=end,
        aggregation={**agg, "per_series_aligner": Aligner.ALIGN_COUNT},
    )
    assert [p.value.int64_value for p in count.points] == [1, 2]  # raw points per period
    (mean,) = _list(
        mon,
        "prediction_count",
        start=T0,
        end=end,
        aggregation={**agg, "per_series_aligner": Aligner.ALIGN_MEAN},
    )
    assert [p.value.double_value for p in mean.points] == [2.0, 5.0]


def test_cross_series_reduction_and_grouping(mon) -> None:
    for i in range(20):
        _record(mon.store, T0 + 1 + i, dm="1", latency=10.0)
    for i in range(20):
        _record(mon.store, T0 + 1 + i, dm="2", latency=400.0)
    for i in range(7):
        _record(mon.store, T0 + 1 + i, dm="3", endpoint="200")
    agg = {"alignment_period": {"seconds": 600}, "per_series_aligner": Aligner.ALIGN_DELTA}
    summed = _list(
        mon,
        "prediction_count",
        end=T0 + 600,
        aggregation={
            **agg,
            "cross_series_reducer": Reducer.REDUCE_SUM,
            "group_by_fields": ["resource.label.endpoint_id"],
        },
    )
    assert {s.resource.labels["endpoint_id"]: _total(s) for s in summed} == {"100": 40, "200": 7}
    assert all(dict(s.metric.labels) == {} for s in summed)
    everything = _list(
        mon,
        "prediction_count",
        end=T0 + 600,
        aggregation={**agg, "cross_series_reducer": Reducer.REDUCE_SUM},
    )
    assert [_total(s) for s in everything] == [47]

    # The gate's query: p99 per deployed model, max across the rest.
    p99 = _list(
        mon,
        "prediction_latencies",
        end=T0 + 600,
        extra='resource.label.endpoint_id = "100"',
        aggregation={
            "alignment_period": {"seconds": 600},
            "per_series_aligner": Aligner.ALIGN_PERCENTILE_99,
            "cross_series_reducer": Reducer.REDUCE_MAX,
            "group_by_fields": ["resource.label.endpoint_id", "metric.label.deployed_model_id"],
        },
    )
    values = {s.metric.labels["deployed_model_id"]: s.points[0].value.double_value for s in p99}
    assert set(values) == {"1", "2"}
    assert lower_bound(bucket_index(10.0)) <= values["1"] <= upper_bound(bucket_index(10.0))
    assert lower_bound(bucket_index(400.0)) <= values["2"] <= upper_bound(bucket_index(400.0))
    merged = _list(
        mon,
        "prediction_latencies",
        end=T0 + 600,
        aggregation={
            "alignment_period": {"seconds": 600},
            "per_series_aligner": Aligner.ALIGN_DELTA,
            "cross_series_reducer": Reducer.REDUCE_SUM,
        },
    )
    assert merged[0].points[0].value.distribution_value.count == 47


def test_headers_view_and_paging(mon) -> None:
    for dm in ("1", "2", "3"):
        _record(mon.store, T0 + 1, dm=dm)
    headers = _list(mon, "prediction_count", view=m.ListTimeSeriesRequest.TimeSeriesView.HEADERS)
    assert len(headers) == 3 and all(len(s.points) == 0 for s in headers)
    interval = m.TimeInterval(start_time={"seconds": T0 - 60}, end_time={"seconds": T0 + 60})
    pager = mon.metrics.list_time_series(
        request=m.ListTimeSeriesRequest(
            name=PARENT,
            filter=f'metric.type = "{ONLINE}prediction_count"',
            interval=interval,
            page_size=2,
        )
    )
    pages = [[s.metric.labels["deployed_model_id"] for s in p.time_series] for p in pager.pages]
    assert pages == [["1", "2"], ["3"]]


def test_ingestion_delay_hides_recent_points(mon, monkeypatch) -> None:
    now = time.time()
    mon.store.ingestion_delay_s = 180
    _record(mon.store, now - 10)
    _record(mon.store, now - 300)
    (series,) = _list(mon, "prediction_count", start=now - 600, end=now)
    assert _total(series) == 1  # the request 10 s ago is not delivered yet
    mon.store.ingestion_delay_s = 0
    (series,) = _list(mon, "prediction_count", start=now - 600, end=now)
    assert _total(series) == 2
    monkeypatch.setenv("VXDEPLOY_METRICS_DELAY_S", "240")
    assert MetricsStore(mon.state_dir / "other").ingestion_delay_s == 240
    monkeypatch.setenv("VXDEPLOY_METRICS_DELAY_S", "soon")
    with pytest.raises(ValueError, match="VXDEPLOY_METRICS_DELAY_S='soon'"):
        MetricsStore(mon.state_dir / "other")


def test_records_survive_a_restart(mon, reconnect) -> None:
    for i in range(12):
        _record(mon.store, T0 + i, code=503 if i < 2 else 200)
    mon.close()
    again = reconnect(mon.state_dir)
    assert _total(_list(again, "error_count")[0]) == 2
    assert _total(_list(again, "prediction_count")[0]) == 10
    again.store.reset()
    assert _list(again, "prediction_count") == []
    assert len(MetricsStore(mon.state_dir)) == 0


def test_known_metric_without_data_and_errors(mon) -> None:
    _record(mon.store, T0 + 1)
    assert _list(mon, "replicas") == []
    with pytest.raises(exceptions.InvalidArgument, match="does not exist"):
        _list(mon, "latencies")
    interval = m.TimeInterval(end_time={"seconds": T0 + 60})
    with pytest.raises(exceptions.InvalidArgument, match="exactly one metric type"):
        list(
            mon.metrics.list_time_series(
                request=m.ListTimeSeriesRequest(
                    name=PARENT, filter='resource.labels.endpoint_id = "100"', interval=interval
                )
            )
        )
    with pytest.raises(exceptions.InvalidArgument, match="requires a per_series_aligner"):
        _list(mon, "prediction_count", aggregation={"cross_series_reducer": Reducer.REDUCE_SUM})
    with pytest.raises(exceptions.InvalidArgument, match="alignment_period is required"):
        _list(mon, "prediction_count", aggregation={"per_series_aligner": Aligner.ALIGN_DELTA})
    with pytest.raises(exceptions.InvalidArgument, match="ALIGN_RATE is not valid"):
        _list(
            mon,
            "prediction_latencies",
            aggregation={
                "alignment_period": {"seconds": 60},
                "per_series_aligner": Aligner.ALIGN_RATE,
            },
        )
    with pytest.raises(exceptions.InvalidArgument, match="ALIGN_STDDEV is not supported"):
        _list(
            mon,
            "prediction_count",
            aggregation={
                "alignment_period": {"seconds": 60},
                "per_series_aligner": Aligner.ALIGN_STDDEV,
            },
        )
    with pytest.raises(exceptions.InvalidArgument, match=r"interval\.end_time is required"):
        list(
            mon.metrics.list_time_series(
                request=m.ListTimeSeriesRequest(
                    name=PARENT, filter=f'metric.type = "{ONLINE}error_count"'
                )
            )
        )
    with pytest.raises(exceptions.InvalidArgument, match="secondary_aggregation is not supported"):
        _list(
            mon,
            "prediction_count",
            aggregation={
                "alignment_period": {"seconds": 60},
                "per_series_aligner": Aligner.ALIGN_DELTA,
            },
            secondary_aggregation={"cross_series_reducer": Reducer.REDUCE_SUM},
        )
