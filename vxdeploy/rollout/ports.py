"""The small ports the rollout reaches the world through.

The runner sees the one live picture (`vxdeploy.live`) and these Protocols; the Vertex side
is `vertex.rollout_ports`, over the same reader and writer deploy and destroy use, so the
rollout cannot keep a picture of its own.
"""

from __future__ import annotations

from typing import Protocol

from vxdeploy.live import LiveDeployedModel, LiveEndpoint, Reading


class EndpointPort(Protocol):
    """Reads and writes the endpoint; every write is conditional on the etag read."""

    def read(self) -> LiveEndpoint: ...

    def write(self, etag: str, traffic: dict[str, int], labels: dict[str, str]) -> LiveEndpoint:
        """Replace the traffic split and labels; ConflictError if `etag` is stale."""
        ...

    def undeploy(self, deployed_model_id: str) -> None: ...


class AliasPort(Protocol):
    """Moves version aliases in the Model Registry."""

    def move(self, alias: str, old: LiveDeployedModel | None, new: LiveDeployedModel,
             drop: tuple[str, ...] = ()) -> None:
        """Put `alias` on `new` (off `old`), removing the aliases in `drop` from `new`."""
        ...


class MetricsPort(Protocol):
    """Reads gate metrics for one deployed model; None when there is no data at all."""

    def read(self, deployed_model_id: str, start: float, end: float) -> Reading | None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...
