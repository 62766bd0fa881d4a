"""Live state as plain data: what the plan compares the desired state with.

Kept free of GAPIC types so planning is pure and testable from tables of cases; the
reader in `vxdeploy.vertex.reader` fills these from API responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vxdeploy.profile.model import EndpointKind
from vxdeploy.resources import ReplicaFields


@dataclass(frozen=True)
class LiveDeployedModel(ReplicaFields):
    """One DeployedModel and the model version it serves: the one live type that plan,
    rollout, status and destroy share (the machine fields default for tables of cases)."""

    id: str  # DeployedModel id: the key of the traffic split
    model: str  # projects/P/locations/L/models/ID (no version)
    version_id: str
    display_name: str = ""
    machine_type: str = ""
    accelerator_type: str = ""
    accelerator_count: int = 0
    min_replicas: int = 0
    max_replicas: int = 0
    required_replicas: int = 0
    spot: bool = False
    service_account: str = ""
    autoscaling: dict[str, int] = field(default_factory=dict)
    scale_to_zero: tuple[int, int] | None = None
    fingerprint: str = ""  # of the model version it serves (from the version's labels)
    aliases: tuple[str, ...] = ()
    create_time: float = 0.0  # epoch seconds the DeployedModel was created; orders "newest"

    @property
    def versioned_name(self) -> str:
        """The model version's resource name (`MODEL@ID`), as the Model Registry wants it."""
        return f"{self.model}@{self.version_id}" if self.version_id else self.model


@dataclass(frozen=True)
class LiveEndpoint:
    name: str
    endpoint_id: str
    display_name: str
    labels: dict[str, str]
    etag: str
    traffic_split: dict[str, int]
    deployed_models: tuple[LiveDeployedModel, ...]
    kind: EndpointKind
    inference_timeout_s: int
    psc_project_allowlist: tuple[str, ...] = ()
    network: str = ""
    # the split as stored, zero shares included: the rollout writes every version it
    # manages (at 0 % too) and reports it so; `traffic_split` keeps only real shares
    traffic_written: dict[str, int] = field(default_factory=dict)

    def share(self, deployed_model_id: str) -> int:
        return self.traffic_split.get(deployed_model_id, 0)

    def deployed(self, deployed_model_id: str) -> LiveDeployedModel | None:
        return next((d for d in self.deployed_models if d.id == deployed_model_id), None)


@dataclass(frozen=True)
class LiveModelVersion:
    model: str  # projects/P/locations/L/models/ID
    version_id: str
    fingerprint: str
    aliases: tuple[str, ...]
    labels: dict[str, str]
    deployed: bool = False  # deployed on any endpoint (Vertex refuses to delete it then)

    @property
    def versioned_name(self) -> str:
        return f"{self.model}@{self.version_id}"


@dataclass(frozen=True)
class LiveAlertPolicy:
    name: str
    kind: str
    display_name: str
    threshold: float
    duration_s: int
    filter: str
    denominator_filter: str
    channels: tuple[str, ...]
    enabled: bool


@dataclass
class LiveState:
    """What exists now, as far as one plan needs to know."""

    endpoint: LiveEndpoint | None = None
    model_exists: bool = False
    matching_version: LiveModelVersion | None = None  # the version with the desired fingerprint
    # every version of the model; read only when the profile sets model.keep_versions
    versions: tuple[LiveModelVersion, ...] = ()
    alert_policies: dict[str, LiveAlertPolicy] = field(default_factory=dict)
    # notification channel as written in the profile -> resource name (None: not found)
    channels: dict[str, str | None] = field(default_factory=dict)
    # destroy only: the model it would delete (it exists and this tool made it), else ""
    owned_model: str = ""
    api_calls: int = 0


@dataclass(frozen=True)
class Reading:
    """Gate metrics for one deployed model over one window (from Cloud Monitoring).

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
