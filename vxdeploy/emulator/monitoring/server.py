"""The Cloud Monitoring gRPC services on loopback, for the real google-cloud-monitoring
clients (which have no REST transport).

Handlers are registered generically with the proto-plus types' (de)serializers, so no
generated servicer code is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from vxdeploy.emulator.monitoring.alert_policies import AlertPolicies
from vxdeploy.emulator.monitoring.channels import NotificationChannels
from vxdeploy.emulator.monitoring.errors import ApiError
from vxdeploy.emulator.monitoring.metric_service import MetricService
from vxdeploy.emulator.monitoring.store import MetricsStore

log = logging.getLogger(__name__)


def _serialize(message: Any) -> bytes:
    if hasattr(message, "SerializeToString"):  # a plain protobuf message (Empty, descriptors)
        return bytes(message.SerializeToString())
    return bytes(type(message).serialize(message))


def _unary(function: Callable[[Any], Any], request_type: Any) -> grpc.RpcMethodHandler:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return function(request)
        except ApiError as exc:
            context.abort(getattr(grpc.StatusCode, exc.status), exc.message)
        except Exception as exc:
            log.exception("monitoring emulator: %s failed", function.__qualname__)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    return grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=request_type.deserialize, response_serializer=_serialize
    )


class MonitoringServer:
    """AlertPolicyService, NotificationChannelService and MetricService on one port."""

    def __init__(
        self,
        store: MetricsStore,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        max_workers: int = 8,
    ):
        from google.cloud import monitoring_v3 as mv3

        self.store = store
        self.channels = NotificationChannels(state_dir)
        self.policies = AlertPolicies(state_dir, channel_exists=self.channels.exists)
        self.channels.in_use_by = self.policies.uses_channel
        self.channels.forget = self.policies.forget_channel
        self.metrics = MetricService(store)
        handlers = [
            grpc.method_handlers_generic_handler(
                "google.monitoring.v3.AlertPolicyService",
                {
                    "CreateAlertPolicy": _unary(self.policies.create, mv3.CreateAlertPolicyRequest),
                    "GetAlertPolicy": _unary(self.policies.get, mv3.GetAlertPolicyRequest),
                    "ListAlertPolicies": _unary(self.policies.list, mv3.ListAlertPoliciesRequest),
                    "UpdateAlertPolicy": _unary(self.policies.update, mv3.UpdateAlertPolicyRequest),
                    "DeleteAlertPolicy": _unary(self.policies.delete, mv3.DeleteAlertPolicyRequest),
                },
            ),
            grpc.method_handlers_generic_handler(
                "google.monitoring.v3.NotificationChannelService",
                {
                    "CreateNotificationChannel": _unary(
                        self.channels.create, mv3.CreateNotificationChannelRequest
                    ),
                    "GetNotificationChannel": _unary(
                        self.channels.get, mv3.GetNotificationChannelRequest
                    ),
                    "ListNotificationChannels": _unary(
                        self.channels.list, mv3.ListNotificationChannelsRequest
                    ),
                    "DeleteNotificationChannel": _unary(
                        self.channels.delete, mv3.DeleteNotificationChannelRequest
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                "google.monitoring.v3.MetricService",
                {
                    "ListTimeSeries": _unary(
                        self.metrics.list_time_series, mv3.ListTimeSeriesRequest
                    ),
                    "ListMetricDescriptors": _unary(
                        self.metrics.list_metric_descriptors, mv3.ListMetricDescriptorsRequest
                    ),
                    "GetMetricDescriptor": _unary(
                        self.metrics.get_metric_descriptor, mv3.GetMetricDescriptorRequest
                    ),
                },
            ),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="monitoring")
        )
        self._server.add_generic_rpc_handlers(handlers)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if not self.port:
            raise OSError(f"cannot listen on {host}:{port} for the monitoring gRPC services")
        self.host = host
        self.target = f"{host}:{self.port}"
        self._server.start()

    def stop(self, grace_s: float | None = 1.0) -> None:
        self._server.stop(grace_s).wait(timeout=(grace_s or 0) + 5)

    def __enter__(self) -> MonitoringServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
