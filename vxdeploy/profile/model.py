"""The deployment profile: the whole desired state of one deployment, as pydantic models.

Structural rules (types, enums, ranges, unknown keys) live here so pydantic reports all
of them at once; rules that need the catalog or span several sections live in
`vxdeploy.profile.rules`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base for every profile section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True, use_enum_values=False)


class Target(StrEnum):
    VERTEX = "vertex"
    LOCAL = "local"


class EndpointKind(StrEnum):
    PUBLIC = "public"  # the shared public endpoint
    DEDICATED = "dedicated"  # dedicated public endpoint (own DNS name)
    PSC = "psc"  # Private Service Connect
    VPC_PEERING = "vpc-peering"  # private endpoint on a peered VPC network


class ContainerKind(StrEnum):
    FLASK = "flask"
    TORCHSERVE = "torchserve"
    TENSORRT = "tensorrt"
    TRITON = "triton"
    CUSTOM = "custom"


class RolloutStrategy(StrEnum):
    ALL_AT_ONCE = "all-at-once"
    CANARY = "canary"
    LINEAR = "linear"
    MANUAL = "manual"  # new version deployed at 0%, promoted by hand


class OldVersionPolicy(StrEnum):
    UNDEPLOY = "undeploy"  # undeploy the old version after promotion
    KEEP = "keep"  # keep it deployed at 0% for instant rollback


class LocalRuntime(StrEnum):
    PROCESS = "process"
    DOCKER = "docker"


Percent = Annotated[float, Field(ge=0, le=100)]
# A label key/value as Vertex accepts them: lowercase letters, digits, _ and -.
LabelKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
LabelValue = Annotated[str, Field(pattern=r"^[a-z0-9_-]{0,63}$")]


class EndpointSpec(Strict):
    """The endpoint and how it is reached."""

    name: str = Field("vxdeploy", pattern=r"^[a-z][a-z0-9-]{0,62}$",
                      description="Display name; also seeds the deterministic endpoint id.")
    kind: EndpointKind = EndpointKind.PUBLIC
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    inference_timeout_s: int = Field(60, ge=1, le=3600)
    psc_project_allowlist: list[str] = Field(default_factory=list)
    psc_network: str = Field("", description="VPC for PSC automation: projects/P/global/networks/N")
    network: str = Field("", description="Peered VPC: projects/{NUMBER}/global/networks/{name}")


class ModelSpec(Strict):
    """The model version to serve and the container that serves it."""

    display_name: str = Field("model", min_length=1, max_length=128)
    artifact_uri: str = Field("", description="gs:// prefix, or a local path for target=local")
    container: ContainerKind = ContainerKind.FLASK
    image: str = Field("", description="Image reference; required for container=custom")
    predict_route: str = Field("/predict", pattern=r"^/")
    health_route: str = Field("/health", pattern=r"^/")
    port: int = Field(8080, ge=1, le=65535)
    env: dict[str, str] = Field(default_factory=dict)
    handler: str = Field("", description="Path to the user's handler module (pre/post-processing)")
    model_code: str = Field("", description="Path to the user's model code (state-dict format)")
    requirements: str = Field("", description="Path to an extra requirements.txt for the image")
    base_image: str = Field("", description="BASE_IMAGE build argument (pin by @sha256 digest)")
    aliases: list[str] = Field(default_factory=list)


class Autoscaling(Strict):
    """Autoscaling targets; 0 leaves a metric to Vertex's default."""

    cpu_utilization: int = Field(0, ge=0, le=100)
    accelerator_duty_cycle: int = Field(0, ge=0, le=100)
    requests_per_minute: int = Field(0, ge=0, description="Per replica per minute")


class ScaleToZero(Strict):
    """Vertex's scale-to-zero (v1beta1, Preview)."""

    enabled: bool = False
    idle_scaledown_period_s: int = 3600
    min_scaleup_period_s: int = 3600


class MachineSpec(Strict):
    """The machines each replica runs on, and how many replicas."""

    machine_type: str = "n1-standard-2"
    accelerator_type: str = ""
    accelerator_count: int = Field(0, ge=0)
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    required_replicas: int = Field(0, ge=0)
    spot: bool = False
    service_account: str = ""
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    scale_to_zero: ScaleToZero = Field(default_factory=ScaleToZero)


class Gates(Strict):
    """What a rollout step must show before it moves on."""

    p99_latency_ms: float = Field(0, ge=0, description="0 disables the latency gate")
    max_error_rate: float = Field(0.01, ge=0, le=1)
    min_requests: int = Field(100, ge=0, description="Fewer requests than this is not a pass")


class RolloutPolicy(Strict):
    """How a new model version takes over traffic."""

    strategy: RolloutStrategy = RolloutStrategy.ALL_AT_ONCE
    steps: list[Percent] = Field(default_factory=lambda: [10.0, 100.0])
    bake_time_s: float = Field(600, ge=0)
    final_bake_s: float = Field(0, ge=0, description="Bake after 100% before retiring the old")
    termination_wait_s: float = Field(0, ge=0)
    metrics_delay_s: float = Field(180, ge=0, description="How late metrics arrive")
    old_version: OldVersionPolicy = OldVersionPolicy.UNDEPLOY
    gates: Gates = Field(default_factory=Gates)


class Alerts(Strict):
    """Cloud Monitoring alert policies installed for the endpoint."""

    enabled: bool = True
    p99_latency_ms: float = Field(1000, gt=0)
    error_rate: float = Field(0.05, gt=0, le=1)
    duration_s: int = Field(300, ge=0)
    notification_channels: list[str] = Field(default_factory=list)


class LocalSettings(Strict):
    """How the local emulator runs this profile's model."""

    runtime: LocalRuntime = LocalRuntime.PROCESS


class Profile(Strict):
    """The whole desired state of one deployment."""

    name: str = ""
    description: str = ""
    extends: str | list[str] | None = None
    target: Target = Target.VERTEX
    project: str = Field("local-project", min_length=1)
    region: str = Field("us-central1", pattern=r"^[a-z]+-[a-z]+\d+$")
    staging_bucket: str = ""
    artifact_registry: str = Field("vxdeploy", description="Artifact Registry repository name")
    endpoint: EndpointSpec = Field(default_factory=EndpointSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    machine: MachineSpec = Field(default_factory=MachineSpec)
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)
    alerts: Alerts = Field(default_factory=Alerts)
    local: LocalSettings = Field(default_factory=LocalSettings)

    @property
    def image_repository(self) -> str:
        """Where this profile's images live in Artifact Registry."""
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.artifact_registry}"
