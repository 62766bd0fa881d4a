"""The desired state of one deployment, derived from a profile: plain, comparable data.

Ids are deterministic (endpoint id, model id, deployed-model id) so that re-runs find the
resources they made instead of creating duplicates, and each model version carries a
fingerprint of everything that makes it different (image, artifacts, container spec), so a
new version is uploaded only when something really changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from vxdeploy import __version__
from vxdeploy.names import (
    ALERT_KIND_LABEL,
    CONTAINER_LABEL,
    CPU_METRIC,
    DUTY_CYCLE_METRIC,
    ENDPOINT_LABEL,
    ENDPOINT_RESOURCE_TYPE,
    ERROR_COUNT_METRIC,
    FINGERPRINT_LABEL,
    LATENCY_METRIC,
    PREDICTION_COUNT_METRIC,
    REQUESTS_METRIC,
    RUNTIME_LABEL,
)
from vxdeploy.profile.model import EndpointKind, Profile, RolloutStrategy, Target
from vxdeploy.profile.rules import effective_accelerator, serving_backend
from vxdeploy.resources import ReplicaFields
from vxdeploy.traffic import steps_for

MANAGED_BY = "managed-by"
TOOL = "vxdeploy"
PROFILE_LABEL = "vxdeploy-profile"


@dataclass(frozen=True)
class DesiredEndpoint:
    endpoint_id: str
    display_name: str
    labels: dict[str, str]
    kind: EndpointKind
    inference_timeout_s: int
    psc_project_allowlist: tuple[str, ...] = ()
    psc_network: str = ""
    network: str = ""


@dataclass(frozen=True)
class DesiredModel:
    model_id: str
    display_name: str
    image_uri: str
    artifact_uri: str
    container: str
    predict_route: str
    health_route: str
    port: int
    env: tuple[tuple[str, str], ...]
    labels: dict[str, str]
    fingerprint: str
    aliases: tuple[str, ...] = ()
    backend: str = ""  # tensorrt container: what runs the graph, in words (the plan says it)
    keep_versions: int | None = None  # prune older idle versions beyond this many


@dataclass(frozen=True)
class DesiredResources(ReplicaFields):
    machine_type: str
    accelerator_type: str
    accelerator_count: int
    min_replicas: int
    max_replicas: int
    required_replicas: int
    spot: bool
    service_account: str
    autoscaling: tuple[tuple[str, int], ...]
    scale_to_zero: tuple[int, int] | None  # (min_scaleup_period_s, idle_scaledown_period_s)



@dataclass(frozen=True)
class DesiredAlert:
    kind: str  # "latency" | "errors"
    display_name: str
    threshold: float
    duration_s: int
    filter: str
    denominator_filter: str
    channels: tuple[str, ...]
    labels: dict[str, str]


@dataclass(frozen=True)
class Desired:
    profile_name: str
    project: str
    region: str
    endpoint: DesiredEndpoint
    model: DesiredModel
    resources: DesiredResources
    deployed_model_id: str
    strategy: RolloutStrategy
    first_step: int
    keep_old_version: bool
    alerts: tuple[DesiredAlert, ...] = field(default_factory=tuple)
    alerts_enabled: bool = True
    # Vertex only: where apply ships a local artifact folder (vxdeploy/staging.py).
    staging_bucket: str = ""
    target: str = Target.VERTEX.value  # where the plan applies: "vertex" or "local"


def _hash(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def hash_path(path: Path) -> str:
    """Content hash of a file or folder (names and bytes), so edits make a new version."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        relative = file.name if file == path else str(file.relative_to(path))
        if "__pycache__" in relative:
            continue
        digest.update(relative.encode() + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _local_hash(value: str) -> str:
    """Hash local paths (their content is what matters); URIs stand for themselves."""
    if not value or ("://" in value and not value.startswith("file://")):
        return value
    path = Path(value.removeprefix("file://"))
    return hash_path(path) if path.exists() else f"missing:{value}"


def model_fingerprint(profile: Profile, image_uri: str) -> str:
    """A short, label-safe hash of everything that makes one model version differ."""
    model = profile.model
    data = {
        "image": image_uri,
        "artifact": _local_hash(model.artifact_uri),
        "container": model.container.value,
        "routes": [model.predict_route, model.health_route, model.port],
        "env": sorted(model.env.items()),
        "handler": _local_hash(model.handler),
        "model_code": _local_hash(model.model_code),
    }
    if model.backend.value != "auto":
        data["backend"] = model.backend.value
    from vxdeploy.profile.triton import triton_environment

    triton = triton_environment(profile)  # {} for other containers: their hashes stay put
    if triton:
        data["triton"] = sorted(triton.items())
    if model.compile.value != "off":
        data["compile"] = model.compile.value
    return _hash(data)[:20]


def deployed_model_id(endpoint_id: str, fingerprint: str, resources: DesiredResources) -> str:
    """A 10-digit id (Vertex accepts 1-10 digits, no leading zero) fixed by what is deployed."""
    value = int(_hash([endpoint_id, fingerprint, resources.immutable_key()])[:15], 16)
    return str(1_000_000_000 + value % 9_000_000_000)


def _labels(profile: Profile, **extra: str) -> dict[str, str]:
    return {**profile.endpoint.labels, MANAGED_BY: TOOL, PROFILE_LABEL: profile.name[:63],
            **extra}


def _resources(profile: Profile) -> DesiredResources:
    machine = profile.machine
    accelerator, count = effective_accelerator(profile)
    autoscaling = []
    if machine.autoscaling.cpu_utilization:
        autoscaling.append((CPU_METRIC, machine.autoscaling.cpu_utilization))
    if machine.autoscaling.accelerator_duty_cycle:
        autoscaling.append((DUTY_CYCLE_METRIC, machine.autoscaling.accelerator_duty_cycle))
    if machine.autoscaling.requests_per_minute:
        autoscaling.append((REQUESTS_METRIC, machine.autoscaling.requests_per_minute))
    stz = machine.scale_to_zero
    return DesiredResources(
        machine_type=machine.machine_type,
        accelerator_type=accelerator or "",
        accelerator_count=count if accelerator else 0,
        min_replicas=machine.min_replicas,
        max_replicas=machine.max_replicas,
        required_replicas=machine.required_replicas,
        spot=machine.spot,
        service_account=machine.service_account,
        autoscaling=tuple(sorted(autoscaling)),
        scale_to_zero=(stz.min_scaleup_period_s, stz.idle_scaledown_period_s)
        if stz.enabled else None,
    )


def _alerts(profile: Profile, endpoint_id: str) -> tuple[DesiredAlert, ...]:
    alerts = profile.alerts
    resource = (f'resource.type = "{ENDPOINT_RESOURCE_TYPE}" AND '
                f'resource.labels.endpoint_id = "{endpoint_id}"')
    labels = {MANAGED_BY: TOOL, ENDPOINT_LABEL: endpoint_id}
    channels = tuple(alerts.notification_channels)
    latency = DesiredAlert(
        kind="latency",
        display_name=f"vxdeploy {endpoint_id}: p99 latency above {alerts.p99_latency_ms:g} ms",
        threshold=float(alerts.p99_latency_ms),
        duration_s=alerts.duration_s,
        filter=f'metric.type = "{LATENCY_METRIC}" AND {resource} AND '
               'metric.labels.latency_type = "total"',
        denominator_filter="",
        channels=channels,
        labels={**labels, ALERT_KIND_LABEL: "latency"},
    )
    errors = DesiredAlert(
        kind="errors",
        display_name=f"vxdeploy {endpoint_id}: error rate above {alerts.error_rate:.2%}",
        threshold=float(alerts.error_rate),
        duration_s=alerts.duration_s,
        filter=f'metric.type = "{ERROR_COUNT_METRIC}" AND {resource}',
        denominator_filter=f'metric.type = "{PREDICTION_COUNT_METRIC}" AND {resource}',
        channels=channels,
        labels={**labels, ALERT_KIND_LABEL: "errors"},
    )
    return (latency, errors)


def local_image_for(profile: Profile) -> str:
    """The image name a local process deployment records (the emulator runs the folder)."""
    return f"local/vxdeploy-{profile.model.container.value}:process"


def _container_env(profile: Profile) -> dict[str, str]:
    """The profile's env plus what its fields mean to the bundled container."""
    from vxdeploy.profile.triton import triton_environment

    env = {**triton_environment(profile), **profile.model.env}
    if profile.model.backend.value != "auto":
        env.setdefault("VXSERVE_TRT_BACKEND", profile.model.backend.value)
    if profile.model.compile.value == "compile":
        env.setdefault("VXSERVE_COMPILE", "compile")  # torch.compile at start-up
    return env


def desired_state(profile: Profile, image_uri: str) -> Desired:
    """Everything the plan compares against live state, computed once, before any API call."""
    endpoint_id = profile.endpoint.name
    fingerprint = model_fingerprint(profile, image_uri)
    resources = _resources(profile)
    model = profile.model
    runtime = profile.local.runtime.value if profile.target is Target.LOCAL else "vertex"
    desired_model = DesiredModel(
        model_id=endpoint_id,
        display_name=model.display_name,
        image_uri=image_uri,
        artifact_uri=model.artifact_uri,
        container=model.container.value,
        predict_route=model.predict_route,
        health_route=model.health_route,
        port=model.port,
        env=tuple(sorted(_container_env(profile).items())),
        labels=_labels(profile, **{FINGERPRINT_LABEL: fingerprint,
                                   CONTAINER_LABEL: model.container.value,
                                   RUNTIME_LABEL: runtime,
                                   "vxdeploy-version": _label(__version__)}),
        fingerprint=fingerprint,
        aliases=tuple(model.aliases),
        backend=serving_backend(profile),
        keep_versions=model.keep_versions,
    )
    endpoint = profile.endpoint
    return Desired(
        staging_bucket=profile.staging_bucket if profile.target is Target.VERTEX else "",
        target=profile.target.value,
        profile_name=profile.name,
        project=profile.project,
        region=profile.region,
        endpoint=DesiredEndpoint(
            endpoint_id=endpoint_id,
            display_name=endpoint.name,
            labels=_labels(profile),
            kind=endpoint.kind,
            inference_timeout_s=endpoint.inference_timeout_s,
            psc_project_allowlist=tuple(endpoint.psc_project_allowlist),
            psc_network=endpoint.psc_network,
            network=endpoint.network,
        ),
        model=desired_model,
        resources=resources,
        deployed_model_id=deployed_model_id(endpoint_id, fingerprint, resources),
        strategy=profile.rollout.strategy,
        first_step=steps_for(profile.rollout)[0],
        keep_old_version=profile.rollout.old_version.value == "keep",
        alerts=_alerts(profile, endpoint_id),
        alerts_enabled=profile.alerts.enabled,
    )


def _label(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())[:63]
