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
    id: str
    model: str  # projects/P/locations/L/models/ID (no version)
    version_id: str
    display_name: str
    machine_type: str
    accelerator_type: str
    accelerator_count: int
    min_replicas: int
    max_replicas: int
    required_replicas: int
    spot: bool
    service_account: str
    autoscaling: dict[str, int]
    scale_to_zero: tuple[int, int] | None
    fingerprint: str = ""  # of the model version it serves (from the version's labels)
    aliases: tuple[str, ...] = ()
    create_time: float = 0.0  # epoch seconds the DeployedModel was created; orders "newest"



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
    endpoint: LiveEndpoint | None = None
    model_exists: bool = False
    matching_version: LiveModelVersion | None = None  # the version with the desired fingerprint
    # every version of the model; read only when the profile sets model.keep_versions
    versions: tuple[LiveModelVersion, ...] = ()
    alert_policies: dict[str, LiveAlertPolicy] = field(default_factory=dict)
    # notification channel as written in the profile -> resource name (None: not found)
    channels: dict[str, str | None] = field(default_factory=dict)
    api_calls: int = 0
