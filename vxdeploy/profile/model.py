"""The deployment profile: the whole desired state of one deployment, as pydantic models.

Structural rules (types, enums, ranges, unknown keys) live here so pydantic reports all
of them at once; rules that need the catalog or span several sections live in
`vxdeploy.profile.rules`.

Types are strict: `max_replicas = true`, `max_replicas = "2"` and `spot = "yes"` are
mistakes in a TOML file, not values to coerce. Every field carries a description and, where
Vertex imposes one, the rule behind it (`vertex_rule` in the JSON Schema); docs/profiles.md
and `vxdeploy profiles schema` are generated from these declarations.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

RULE_KEY = "vertex_rule"


def rule(text: str) -> dict[str, Any]:
    """`json_schema_extra` naming the Vertex rule a field follows (shown in docs and errors)."""
    return {RULE_KEY: text}


class Strict(BaseModel):
    """Base for every profile section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True, use_enum_values=False,
                              strict=True)


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


class ServingBackend(StrEnum):
    """What runs the graph in the tensorrt container (its VXSERVE_TRT_BACKEND)."""

    AUTO = "auto"  # TensorRT where a GPU and TensorRT exist, else ONNX Runtime
    TENSORRT = "tensorrt"
    ONNXRUNTIME = "onnxruntime"  # ONNX Runtime; on CPU machines (Vertex too)


class CompileMode(StrEnum):
    """How the model is compiled (`vxdeploy package`, `vxdeploy build`'s cache warm-up)."""

    OFF = "off"  # eager PyTorch
    COMPILE = "compile"  # torch.compile at start-up, from a persistent cache
    AOTI = "aoti"  # an AOTInductor package compiled ahead of time


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


# Enums come from TOML as strings: strict mode would want enum instances, so enum fields
# alone are validated in lax mode (`strict=False`, which still accepts only listed values).

Percent = Annotated[float, Field(ge=0, le=100)]
# A label key/value as Vertex accepts them: lowercase letters, digits, _ and -.
LabelKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
LabelValue = Annotated[str, Field(pattern=r"^[a-z0-9_-]{0,63}$")]

ENDPOINT_ID_RULE = ("1-63 characters: lowercase letters, digits and hyphens, starting with "
                    "a letter and ending with a letter or digit (Vertex's endpoint_id rule)")
LABEL_RULE = ("keys: a lowercase letter, then up to 62 lowercase letters, digits, _ or -; "
              "values: up to 63 lowercase letters, digits, _ or - (Vertex resource labels)")


class EndpointSpec(Strict):
    """The endpoint and how it is reached."""

    name: str = Field("vxdeploy", pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
                      description="Display name; also the deterministic endpoint id, so "
                      "re-runs find the endpoint they created.",
                      json_schema_extra=rule(ENDPOINT_ID_RULE))
    kind: EndpointKind = Field(EndpointKind.PUBLIC, strict=False,
                               description="How the endpoint is reached: the shared public "
                               "endpoint, a dedicated public one, Private Service Connect, or "
                               "a private endpoint on a peered VPC.")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict,
                                               description="Labels on the endpoint (vxdeploy "
                                               "adds its own ownership labels).",
                                               json_schema_extra=rule(LABEL_RULE))
    inference_timeout_s: int = Field(60, ge=1, le=3600,
                                     description="Seconds a prediction may take.",
                                     json_schema_extra=rule(
                                         "at most 60 on the shared public endpoint and on "
                                         "VPC-peered private endpoints; up to 3600 on dedicated "
                                         "and Private Service Connect endpoints"))
    psc_project_allowlist: list[str] = Field(default_factory=list,
                                             description="Projects allowed to connect through "
                                             "Private Service Connect.",
                                             json_schema_extra=rule(
                                                 "kind = \"psc\" needs at least one project"))
    psc_network: str = Field("", description="VPC for PSC automation: "
                             "projects/P/global/networks/N",
                             json_schema_extra=rule("only with kind = \"psc\""))
    network: str = Field("", description="Peered VPC: projects/{NUMBER}/global/networks/{name}",
                         json_schema_extra=rule(
                             "kind = \"vpc-peering\" needs the network by project number; "
                             "peering and PSC are exclusive"))


class TritonBatching(Strict):
    """Triton's dynamic batcher, model instances and ensemble (`container = "triton"` only)."""

    max_batch_size: int = Field(32, ge=1, description="Largest batch Triton's dynamic "
                                "batcher hands the model (config.pbtxt max_batch_size).")
    preferred_batch_sizes: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list,
        description="Batch sizes the batcher forms when it can (empty: 8, 16 and 32, those "
        "that fit max_batch_size).",
        json_schema_extra=rule("each between 1 and max_batch_size"))
    max_queue_delay_us: int = Field(2000, ge=0, description="Microseconds a request may wait "
                                    "for others to batch with (0: never waits).")
    instance_count: int = Field(1, ge=1, description="Model instances per GPU on GPU "
                                "machines, on the CPU otherwise (config.pbtxt instance_group).")
    ensemble: bool = Field(False, description="Run the handler's preprocess and postprocess "
                           "as their own Triton models around the model, joined by a Triton "
                           "ensemble (always so where the model runs on Triton's pytorch or "
                           "onnxruntime backend).")


class ModelSpec(Strict):
    """The model version to serve and the container that serves it."""

    display_name: str = Field("model", min_length=1, max_length=128,
                              description="The model's display name in the Model Registry.",
                              json_schema_extra=rule("1-128 characters"))
    artifact_uri: str = Field("", description="gs:// prefix, or a local path for target=local "
                              "(relative to the profile file that sets it)",
                              json_schema_extra=rule("Vertex reads artifacts from Cloud "
                                                     "Storage: gs:// only with target = "
                                                     "\"vertex\""))
    container: ContainerKind = Field(ContainerKind.FLASK, strict=False,
                                     description="The bundled serving container, or custom "
                                     "for your own image.",
                                     json_schema_extra=rule("tensorrt needs an NVIDIA GPU on "
                                                            "Vertex"))
    backend: ServingBackend = Field(
        ServingBackend.AUTO, strict=False,
        description="tensorrt container only: which engine serves (onnxruntime serves on CPU "
        "machines, on Vertex too).",
        json_schema_extra=rule("auto, tensorrt or onnxruntime; tensorrt needs an NVIDIA GPU"))
    triton: TritonBatching = Field(default_factory=TritonBatching)
    image: str = Field("", description="Image reference; required for container=custom")
    predict_route: str = Field("/predict", pattern=r"^/",
                               description="HTTP path the container serves predictions on.")
    health_route: str = Field("/health", pattern=r"^/",
                              description="HTTP path Vertex probes for health.")
    port: int = Field(8080, ge=1, le=65535, description="Port the container listens on.")
    env: dict[str, str] = Field(default_factory=dict,
                                description="Environment variables for the container.",
                                json_schema_extra=rule(
                                    "names starting with AIP_ are set by Vertex itself. "
                                    "`VXSERVE_AUTOCAST` is `off`, `bf16` or `fp16` for flask "
                                    "and torchserve (see docs/containers.md, Precision; "
                                    "blank means off, case does not count); the tensorrt "
                                    "container refuses any value but off (its precision is "
                                    "`VXSERVE_TRT_PRECISION`)"))
    handler: str = Field("", description="Path to the user's handler module (pre/post-processing)")
    model_code: str = Field("", description="Path to the user's model code (state-dict format)")
    compile: CompileMode = Field(
        CompileMode.OFF, strict=False,
        description="Compiled PyTorch: `vxdeploy package --profile` makes an AOTInductor "
        "package (aoti) or torch.compile artifacts (compile) from model.artifact_uri, and "
        "`vxdeploy build` warms the torch.compile cache into the image.",
        json_schema_extra=rule("off, compile or aoti"))
    requirements: str = Field("", description="Path to an extra requirements.txt for the image")
    base_image: str = Field("", description="BASE_IMAGE build argument (pin by @sha256 digest)")
    aliases: list[str] = Field(default_factory=list,
                               description="Version aliases to set on the new model version.")
    keep_versions: int | None = Field(None, ge=1, description="Keep at most this many model "
                                      "versions: deploy deletes the oldest that are not "
                                      "deployed and hold no alias (unset: keep all).")


class Autoscaling(Strict):
    """Autoscaling targets; 0 leaves a metric to Vertex's default."""

    cpu_utilization: int = Field(0, ge=0, le=100,
                                 description="Target CPU utilization in percent (0: Vertex's "
                                 "default, 60).")
    accelerator_duty_cycle: int = Field(0, ge=0, le=100,
                                        description="Target GPU duty cycle in percent (0: "
                                        "Vertex's default, 60).",
                                        json_schema_extra=rule("needs an accelerator"))
    requests_per_minute: int = Field(0, ge=0, description="Per replica per minute")


class ScaleToZero(Strict):
    """Vertex's scale-to-zero (v1beta1, Preview)."""

    enabled: bool = Field(False, description="Let the deployment scale down to no replicas.",
                          json_schema_extra=rule(
                              "needs min_replicas = 0, a non-shared endpoint and one model "
                              "per endpoint (strategy all-at-once)"))
    idle_scaledown_period_s: int = Field(3600, description="Idle seconds before scaling to "
                                         "zero.", json_schema_extra=rule("300..28800"))
    min_scaleup_period_s: int = Field(3600, description="Seconds to stay up after scaling up.",
                                      json_schema_extra=rule("300..28800"))


class MachineSpec(Strict):
    """The machines each replica runs on, and how many replicas."""

    machine_type: str = Field("n1-standard-2",
                              description="A machine type Vertex offers for prediction.",
                              json_schema_extra=rule(
                                  "one of the prediction machine types in vxdeploy/catalog.py "
                                  "(e2, n1, n2, n2d, c2, c2d, c3-highcpu, a2, a3, a4, g2, g4)"))
    accelerator_type: str = Field("", description="Add-on GPU (N1 machines only); GPUs built "
                                  "into a2/a3/a4/g2/g4 machines are implied.",
                                  json_schema_extra=rule(
                                      "an AcceleratorType the machine type accepts"))
    accelerator_count: int = Field(0, ge=0, description="How many accelerators per replica.",
                                   json_schema_extra=rule("a count the machine type accepts"))
    min_replicas: int = Field(1, ge=0, description="Replicas always running.",
                              json_schema_extra=rule("0 only with scale-to-zero; at most "
                                                     "max_replicas"))
    max_replicas: int = Field(1, ge=1, description="Upper bound for autoscaling.")
    required_replicas: int = Field(0, ge=0, description="Replicas that must start for the "
                                   "deploy to succeed (0: all of min_replicas).",
                                   json_schema_extra=rule("at most min_replicas"))
    spot: bool = Field(False, description="Use Spot VMs (cheaper, may be preempted).")
    service_account: str = Field("", description="Service account the container runs as "
                                 "(empty: Vertex's default).",
                                 json_schema_extra=rule("an e-mail address, e.g. "
                                                        "NAME@PROJECT.iam.gserviceaccount.com"))
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    scale_to_zero: ScaleToZero = Field(default_factory=ScaleToZero)


class Gates(Strict):
    """What a rollout step must show before it moves on."""

    p99_latency_ms: float = Field(0, ge=0, description="0 disables the latency gate")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="Highest share of failed "
                                  "requests a step may show.")
    min_requests: int = Field(100, ge=0, description="Fewer requests than this is not a pass")


class RolloutPolicy(Strict):
    """How a new model version takes over traffic."""

    strategy: RolloutStrategy = Field(RolloutStrategy.ALL_AT_ONCE, strict=False,
                                      description="How traffic moves to a new version.",
                                      json_schema_extra=rule(
                                          "all-at-once on VPC-peered and scale-to-zero "
                                          "endpoints (one model per endpoint)"))
    steps: list[Percent] = Field(default_factory=lambda: [10.0, 100.0],
                                 description="Candidate traffic share at each step.",
                                 json_schema_extra=rule(
                                     "whole percents, strictly ascending, first step above "
                                     "0; linear ends at 100; traffic splits are integers "
                                     "summing to 100"))
    bake_time_s: float = Field(600, ge=0, description="Seconds each step must hold.")
    final_bake_s: float = Field(0, ge=0, description="Bake after 100% before retiring the old")
    termination_wait_s: float = Field(0, ge=0, description="Seconds to wait before "
                                      "undeploying the old version.")
    metrics_delay_s: float = Field(180, ge=0, description="How late metrics arrive")
    old_version: OldVersionPolicy = Field(OldVersionPolicy.UNDEPLOY, strict=False,
                                          description="What happens to the old version after "
                                          "promotion.",
                                          json_schema_extra=rule(
                                              "keep needs an endpoint that can hold two "
                                              "models: not VPC-peered, not scale-to-zero"))
    gates: Gates = Field(default_factory=Gates)


class Alerts(Strict):
    """Cloud Monitoring alert policies installed for the endpoint."""

    enabled: bool = Field(True, description="Install the alert policies.")
    p99_latency_ms: float = Field(1000, gt=0, description="Alert above this p99 latency.")
    error_rate: float = Field(0.05, gt=0, le=1, description="Alert above this error share.")
    duration_s: int = Field(300, ge=0, description="How long a condition must hold.",
                            json_schema_extra=rule("whole minutes (a multiple of 60)"))
    notification_channels: list[str] = Field(default_factory=list,
                                             description="Cloud Monitoring notification "
                                             "channel names.")


class LocalSettings(Strict):
    """How the local emulator runs this profile's model."""

    runtime: LocalRuntime = Field(LocalRuntime.PROCESS, strict=False,
                                  description="Run models as host processes or as containers "
                                  "(needs a Docker engine).")


class Profile(Strict):
    """The whole desired state of one deployment."""

    name: str = Field("", description="Set from the file name; cannot be set in the file.")
    description: str = Field("", description="Free text shown by `profiles list`.")
    extends: str | list[str] | None = Field(
        None, description="Profiles this one builds on: names in the same folder or the "
        "profiles folder, or bundled:NAME for the examples shipped with vxdeploy.")
    target: Target = Field(Target.VERTEX, strict=False,
                           description="vertex: Google Cloud; local: the local emulator.")
    project: str = Field("local-project", min_length=1,
                         description="Google Cloud project id.",
                         json_schema_extra=rule(
                             "6-30 characters: lowercase letters, digits and hyphens, "
                             "starting with a letter, not ending with a hyphen"))
    region: str = Field("us-central1", description="Vertex AI region.",
                        json_schema_extra=rule("a region Vertex AI serves predictions in "
                                               "(vxdeploy/catalog.py REGIONS)"))
    staging_bucket: str = Field("", description="gs:// bucket for staging artifacts.")
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
