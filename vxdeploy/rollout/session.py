"""Wiring a profile to a `Rollout`: the clients, the endpoint and the metrics it gates on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vxdeploy.profile.model import Profile
from vxdeploy.rollout.report import Progress
from vxdeploy.rollout.runner import Rollout


def endpoint_id_for(profile: Profile) -> str:
    """The profile's endpoint id; deploy creates it with the endpoint name as its id."""
    return profile.endpoint.name


def open_rollout(profile: Profile, *, on_progress: Callable[[Progress], None] | None = None,
                 poll_s: float | None = None, connection: Any = None) -> Rollout:
    """A Rollout for the profile's endpoint on its target (Vertex or the local emulator)."""
    from vxdeploy.vertex.metrics import MonitoringMetrics
    from vxdeploy.vertex.rollout_ports import VertexEndpoint
    from vxdeploy.vertex.writer import Writer

    if connection is None:
        from vxdeploy.vertex.connection import connect

        connection = connect(profile)
    endpoint_id = endpoint_id_for(profile)
    endpoint = VertexEndpoint(Writer(connection), connection.endpoint_name(endpoint_id))
    return Rollout(endpoint=endpoint, aliases=endpoint,
                   metrics=MonitoringMetrics(connection, endpoint_id),
                   policy=profile.rollout, on_progress=on_progress, poll_s=poll_s)
