"""The rollout ports over the real clients: GAPIC REST for endpoints and models, Monitoring
gRPC for the gate metrics. The same code talks to Vertex and to the local emulator.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from vxdeploy.errors import ConflictError, NotFoundError
from vxdeploy.names import ERROR_COUNT_METRIC as ERROR_METRIC
from vxdeploy.names import LATENCY_METRIC, RESPONSE_METRIC
from vxdeploy.rollout.ports import DeployedVersion, EndpointView, Reading
from vxdeploy.vertex.reader import epoch

RESOURCE_TYPE = "aiplatform.googleapis.com/Endpoint"
MIN_ALIGNMENT_S = 60  # Cloud Monitoring rejects shorter alignment periods



class GapicEndpoint:
    """EndpointPort over `EndpointServiceClient` (+ `ModelServiceClient` for aliases)."""

    def __init__(self, connection: Any, endpoint_name: str):
        self.connection = connection
        self.name = endpoint_name

    def _view(self, endpoint: Any) -> EndpointView:
        from vxdeploy.vertex.errors import call_api

        deployed = []
        aliases_by_version: dict[str, tuple[str, ...]] = {}
        for item in endpoint.deployed_models:
            model, _, at_version = item.model.partition("@")
            version_id = item.model_version_id or at_version
            version_name = f"{model}@{version_id}" if version_id else model
            if version_name not in aliases_by_version:
                got = call_api(f"read model {version_name}", partial(
                               self.connection.models.get_model,
                               name=version_name, timeout=self.connection.timeout))
                aliases_by_version[version_name] = tuple(got.version_aliases)
            deployed.append(DeployedVersion(
                id=item.id, model=model, version_id=version_id,
                create_time=epoch(item.create_time),
                aliases=aliases_by_version[version_name], display_name=item.display_name))
        return EndpointView(name=endpoint.name, etag=endpoint.etag,
                            traffic={k: int(v) for k, v in endpoint.traffic_split.items()},
                            labels=dict(endpoint.labels), deployed=tuple(deployed))

    def read(self) -> EndpointView:
        from vxdeploy.vertex.errors import call_api

        try:
            endpoint = call_api(f"read endpoint {self.name}", lambda: self.connection.endpoints
                                .get_endpoint(name=self.name, timeout=self.connection.timeout))
        except NotFoundError as error:
            raise NotFoundError(f"endpoint {self.name} does not exist",
                                hint="deploy the profile first: `vxdeploy deploy --profile "
                                     "NAME`") from error
        return self._view(endpoint)

    def write(self, etag: str, traffic: dict[str, int], labels: dict[str, str]) -> EndpointView:
        from google.protobuf import field_mask_pb2

        from vxdeploy.vertex.errors import call_api

        types = self.connection.aiplatform
        endpoint = types.Endpoint(name=self.name, traffic_split=traffic, labels=labels,
                                  etag=etag)
        mask = field_mask_pb2.FieldMask(paths=["traffic_split", "labels"])
        try:
            updated = call_api(f"update traffic of {self.name}", lambda: self.connection
                               .endpoints.update_endpoint(endpoint=endpoint, update_mask=mask,
                                                          timeout=self.connection.timeout))
        except ConflictError as error:
            raise ConflictError(
                f"endpoint {self.name} changed since it was read (stale etag); the traffic "
                f"split {traffic} was not written",
                hint="someone else changed the endpoint: check `vxdeploy rollout status` "
                     "and run the command again") from error
        return self._view(updated)

    def undeploy(self, deployed_model_id: str) -> None:
        from vxdeploy.vertex.writer import undeploy_and_wait

        undeploy_and_wait(self.connection, self.name, deployed_model_id, missing_ok=False)


class GapicAliases:
    """AliasPort over `ModelServiceClient.merge_version_aliases`."""

    def __init__(self, connection: Any):
        self.connection = connection

    def move(self, alias: str, old: DeployedVersion | None, new: DeployedVersion,
             drop: tuple[str, ...] = ()) -> None:
        """Take `alias` off the old version, then put it on the new one (dropping `drop`).

        Removal first: it works whether or not the registry would move an alias by itself,
        and a cut in between leaves no holder, which `resolve` covers with the labels.
        """
        from vxdeploy.vertex.errors import call_api

        models = self.connection.models
        if old is not None and alias in old.aliases and old.version_name != new.version_name:
            call_api(f"remove alias {alias} from {old.version_name}",
                     lambda: models.merge_version_aliases(
                         name=old.version_name, version_aliases=[f"-{alias}"],
                         timeout=self.connection.timeout))
        call_api(f"add alias {alias} to {new.version_name}",
                 lambda: models.merge_version_aliases(
                     name=new.version_name,
                     version_aliases=[alias, *(f"-{a}" for a in drop if a in new.aliases)],
                     timeout=self.connection.timeout))


class MonitoringMetrics:
    """MetricsPort over Cloud Monitoring's `ListTimeSeries` for one endpoint."""

    def __init__(self, connection: Any, endpoint_id: str):
        self.connection = connection
        self.endpoint_id = endpoint_id

    def _filter(self, metric: str, deployed_model_id: str, extra: str = "") -> str:
        return (f'metric.type = "{metric}" AND resource.type = "{RESOURCE_TYPE}" '
                f'AND resource.labels.endpoint_id = "{self.endpoint_id}" '
                f'AND metric.labels.deployed_model_id = "{deployed_model_id}"{extra}')

    def _series(self, metric_filter: str, start: float, end: float, aligner: Any,
                reducer: Any) -> list[Any]:
        from google.cloud import monitoring_v3

        from vxdeploy.vertex.errors import call_api

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
