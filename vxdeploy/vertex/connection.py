"""Clients for one profile's project and region, pointed at Vertex or at the local emulator.

Nothing above this module knows which one it talks to: a `target = "local"` profile gets the
same GAPIC REST clients with the emulator's URL and anonymous credentials, and Monitoring
clients on an insecure loopback channel; a Vertex profile gets the regional host and
Application Default Credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vxdeploy.profile.model import Profile, Target

DEFAULT_TIMEOUT_S = 60.0


@dataclass
class Connection:
    """Lazily built clients; `beta` selects aiplatform_v1beta1 (scale-to-zero lives there)."""

    project: str
    region: str
    api_endpoint: str
    credentials: Any
    grpc_target: str | None = None  # set for the emulator: Monitoring over insecure gRPC
    beta: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    local: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def monitoring_project(self) -> str:
        return f"projects/{self.project}"

    def endpoint_name(self, endpoint_id: str) -> str:
        return f"{self.parent}/endpoints/{endpoint_id}"

    def model_name(self, model_id: str) -> str:
        return f"{self.parent}/models/{model_id}"

    @cached_property
    def aiplatform(self) -> Any:
        """The GAPIC module in use: aiplatform_v1, or v1beta1 where the profile needs it."""
        if self.beta:
            from google.cloud import aiplatform_v1beta1

            return aiplatform_v1beta1
        from google.cloud import aiplatform_v1

        return aiplatform_v1

    def _gapic(self, name: str) -> Any:
        if name not in self._clients:
            cls = getattr(self.aiplatform, name)
            self._clients[name] = cls(credentials=self.credentials, transport="rest",
                                      client_options={"api_endpoint": self.api_endpoint})
        return self._clients[name]

    @property
    def endpoints(self) -> Any:
        return self._gapic("EndpointServiceClient")

    @property
    def models(self) -> Any:
        return self._gapic("ModelServiceClient")

    @property
    def prediction(self) -> Any:
        return self._gapic("PredictionServiceClient")

    def _monitoring(self, name: str, transport_path: str) -> Any:
        if name not in self._clients:
            from google.cloud import monitoring_v3

            cls = getattr(monitoring_v3, name)
            if self.grpc_target:
                import importlib

                import grpc

                module_path, _, transport_name = transport_path.rpartition(".")
                transport_cls = getattr(importlib.import_module(module_path), transport_name)
                channel = grpc.insecure_channel(self.grpc_target)
                self._clients[name] = cls(transport=transport_cls(channel=channel))
            else:
                self._clients[name] = cls(credentials=self.credentials)
        return self._clients[name]

    @property
    def alert_policies(self) -> Any:
        return self._monitoring(
            "AlertPolicyServiceClient",
            "google.cloud.monitoring_v3.services.alert_policy_service.transports.grpc."
            "AlertPolicyServiceGrpcTransport")

    @property
    def notification_channels(self) -> Any:
        return self._monitoring(
            "NotificationChannelServiceClient",
            "google.cloud.monitoring_v3.services.notification_channel_service.transports.grpc."
            "NotificationChannelServiceGrpcTransport")

    @property
    def metrics(self) -> Any:
        return self._monitoring(
            "MetricServiceClient",
            "google.cloud.monitoring_v3.services.metric_service.transports.grpc."
            "MetricServiceGrpcTransport")


def needs_beta(profile: Profile) -> bool:
    """Scale-to-zero exists only in v1beta1; everything else goes through v1."""
    return profile.machine.scale_to_zero.enabled


def connect(profile: Profile, *, timeout: float = DEFAULT_TIMEOUT_S) -> Connection:
    """Clients for the profile's target: the emulator (started if needed) or Vertex."""
    return connect_to(profile.target, profile.project, profile.region,
                      beta=needs_beta(profile), timeout=timeout)


def connect_to(target: Target, project: str, region: str, *, beta: bool = False,
               timeout: float = DEFAULT_TIMEOUT_S) -> Connection:
    """Clients for a target named by value (a saved plan records it; no profile needed)."""
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    if target is Target.LOCAL:
        from google.auth.credentials import AnonymousCredentials

        from vxdeploy.emulator.control import ensure_running

        info = ensure_running()
        return Connection(project, region, info.rest_url, AnonymousCredentials(),  # type: ignore[no-untyped-call]
                          grpc_target=info.grpc_target, beta=beta, timeout=timeout, local=True)
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    from vxdeploy.errors import VxError

    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError as exc:
        raise VxError("no Google credentials found for a Vertex target",
                      hint="run `gcloud auth application-default login`, or in CI use Workload "
                      "Identity Federation (see examples/ci/)") from exc
    return Connection(project, region, f"https://{region}-aiplatform.googleapis.com",
                      credentials, beta=beta, timeout=timeout)
