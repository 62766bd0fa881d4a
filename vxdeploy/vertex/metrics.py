"""Reading gate metrics: Cloud Monitoring's `ListTimeSeries` for one endpoint's deployed
models (the rollout's gates). The same code reads Vertex's metrics and the emulator's.
"""

from __future__ import annotations

import math
from typing import Any

from vxdeploy.live import Reading
from vxdeploy.names import ENDPOINT_RESOURCE_TYPE, LATENCY_METRIC, RESPONSE_METRIC
from vxdeploy.names import ERROR_COUNT_METRIC as ERROR_METRIC
from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import call_api

RESOURCE_TYPE = ENDPOINT_RESOURCE_TYPE
MIN_ALIGNMENT_S = 60  # Cloud Monitoring rejects shorter alignment periods


class MonitoringMetrics:
    """MetricsPort over Cloud Monitoring's `ListTimeSeries` for one endpoint."""

    def __init__(self, connection: Connection, endpoint_id: str):
        self.connection = connection
        self.endpoint_id = endpoint_id

    def _filter(self, metric: str, deployed_model_id: str, extra: str = "") -> str:
        return (f'metric.type = "{metric}" AND resource.type = "{RESOURCE_TYPE}" '
                f'AND resource.labels.endpoint_id = "{self.endpoint_id}" '
                f'AND metric.labels.deployed_model_id = "{deployed_model_id}"{extra}')

    def _series(self, metric_filter: str, start: float, end: float, aligner: Any,
                reducer: Any) -> list[Any]:
        from google.cloud import monitoring_v3

        seconds = max(MIN_ALIGNMENT_S, math.ceil(end - start))
        request = monitoring_v3.ListTimeSeriesRequest(
            name=self.connection.monitoring_project, filter=metric_filter,
            interval=monitoring_v3.TimeInterval(
                start_time={"seconds": int(start), "nanos": int((start % 1) * 1e9)},
                end_time={"seconds": int(end), "nanos": int((end % 1) * 1e9)}),
            aggregation=monitoring_v3.Aggregation(
                alignment_period={"seconds": seconds}, per_series_aligner=aligner,
                cross_series_reducer=reducer),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL)
        return call_api("read metrics", lambda: list(self.connection.metrics.list_time_series(
            request=request, timeout=self.connection.timeout)))

    @staticmethod
    def _points(series: list[Any]) -> list[Any]:
        return [point for one in series for point in one.points]

    def read(self, deployed_model_id: str, start: float, end: float) -> Reading | None:
        """Requests, errors and p99 latency (ms) of one deployed model over [start, end].

        Several aligned points (a window longer than one period) are summed for counts and
        the worst is kept for p99, so a bad minute is never averaged away.
        """
        if end <= start:  # the step began less than a second ago (starts are whole seconds)
            return None
        from google.cloud import monitoring_v3

        aligner = monitoring_v3.Aggregation.Aligner
        reducer = monitoring_v3.Aggregation.Reducer
        responses = self._points(self._series(
            self._filter(RESPONSE_METRIC, deployed_model_id), start, end,
            aligner.ALIGN_DELTA, reducer.REDUCE_SUM))
        errors = self._points(self._series(self._filter(ERROR_METRIC, deployed_model_id),
                                           start, end, aligner.ALIGN_DELTA,
                                           reducer.REDUCE_SUM))
        latencies = self._points(self._series(
            self._filter(LATENCY_METRIC, deployed_model_id,
                         ' AND metric.labels.latency_type = "total"'),
            start, end, aligner.ALIGN_PERCENTILE_99, reducer.REDUCE_MAX))
        if not responses and not errors and not latencies:
            return None
        # response_count counts every answered request, whatever its status (prediction_count
        # counts instances, so a 32-instance request would look like 32 requests).
        failed = sum(int(p.value.int64_value or p.value.double_value) for p in errors)
        requests = sum(int(p.value.int64_value or p.value.double_value) for p in responses)
        p99 = max((p.value.double_value for p in latencies), default=None)
        return Reading(requests=requests, errors=failed, p99_ms=p99)
