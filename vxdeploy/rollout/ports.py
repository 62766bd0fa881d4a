"""The rollout's view of the world and the small ports it reaches it through.

The runner only sees these plain dataclasses and Protocols, so the whole rollout logic runs
in tests against the real emulator through the GAPIC adapters (`vertex_ports`) and, for
the timing edge cases, against in-memory fakes, without any code knowing which it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class DeployedVersion:
    """One DeployedModel on the endpoint and the model version it serves."""

    id: str  # DeployedModel id: the key of the traffic split
    model: str  # projects/P/locations/L/models/M (no @version)
    version_id: str
    create_time: float  # epoch seconds the DeployedModel was created; orders "newest"
    aliases: tuple[str, ...] = ()
    display_name: str = ""

    @property
    def version_name(self) -> str:
        """The model version's resource name, as MergeVersionAliases wants it."""
        return f"{self.model}@{self.version_id}" if self.version_id else self.model


@dataclass(frozen=True)
class EndpointView:
    """What the rollout needs to know about the endpoint, read in one call."""

    name: str
    etag: str
    traffic: dict[str, int]
    labels: dict[str, str]
    deployed: tuple[DeployedVersion, ...] = field(default=())

    def share(self, deployed_model_id: str) -> int:
        return int(self.traffic.get(deployed_model_id, 0))

    def find(self, deployed_model_id: str) -> DeployedVersion | None:
        return next((d for d in self.deployed if d.id == deployed_model_id), None)


@dataclass(frozen=True)
class Reading:
    """Gate metrics for one deployed model over one window.

    `p99_ms` is None when Monitoring returned no latency points: unknown, not fast.
    """

    requests: int
    errors: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, object]:
        return {"requests": self.requests, "errors": self.errors,
                "error_rate": round(self.error_rate, 6), "p99_ms": self.p99_ms}


class EndpointPort(Protocol):
    """Reads and writes the endpoint; every write is conditional on the etag read."""

    def read(self) -> EndpointView: ...

    def write(self, etag: str, traffic: dict[str, int], labels: dict[str, str]) -> EndpointView:
        """Replace the traffic split and labels; ConflictError if `etag` is stale."""
        ...

    def undeploy(self, deployed_model_id: str) -> None: ...


class AliasPort(Protocol):
    """Moves version aliases in the Model Registry."""

    def move(self, alias: str, old: DeployedVersion | None, new: DeployedVersion,
             drop: tuple[str, ...] = ()) -> None:
        """Put `alias` on `new` (off `old`), removing the aliases in `drop` from `new`."""
        ...


class MetricsPort(Protocol):
    """Reads gate metrics for one deployed model; None when there is no data at all."""

    def read(self, deployed_model_id: str, start: float, end: float) -> Reading | None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...
