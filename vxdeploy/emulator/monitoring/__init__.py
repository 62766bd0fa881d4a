"""The local emulator's Cloud Monitoring: recorded predictions and the gRPC services.

The prediction router calls `MetricsStore.record(...)` for every request it routes; the
real google-cloud-monitoring clients read Vertex's `prediction/online/*` metrics back
through `start_monitoring_server(...)`, and create/list alert policies and channels.
Importing this package is cheap: grpc and the Monitoring types load only when the
server starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vxdeploy.emulator.monitoring.store import DELAY_ENV, MetricsStore, PredictionRecord

if TYPE_CHECKING:
    from vxdeploy.emulator.monitoring.server import MonitoringServer

__all__ = [
    "DELAY_ENV",
    "MetricsStore",
    "MonitoringServer",
    "PredictionRecord",
    "start_monitoring_server",
]


def start_monitoring_server(
    store: MetricsStore, state_dir: Path, host: str = "127.0.0.1", port: int = 0
) -> MonitoringServer:
    """Serve AlertPolicyService, NotificationChannelService and MetricService (insecure
    gRPC) on host:port (0: a free port); `.target` is "HOST:PORT", `.stop()` ends it.

    Connect with `grpc.insecure_channel(server.target)` passed to the client's
    `*GrpcTransport(channel=...)`.
    """
    from vxdeploy.emulator.monitoring.server import MonitoringServer

    return MonitoringServer(store, Path(state_dir), host=host, port=port)


def __getattr__(name: str) -> object:
    if name == "MonitoringServer":
        from vxdeploy.emulator.monitoring.server import MonitoringServer

        return MonitoringServer
    raise AttributeError(name)
