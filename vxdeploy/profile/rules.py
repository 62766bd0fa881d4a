"""The rules Vertex enforces at deploy time, checked before any API call.

Each rule yields `(dotted field, message, allowed values)`; the caller attributes the field
to the file that set it. Rules are independent so one bad value never hides another.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from itertools import pairwise

from vxdeploy import catalog
from vxdeploy.profile.model import (
    CompileMode,
    ContainerKind,
    EndpointKind,
    OldVersionPolicy,
    Profile,
    RolloutStrategy,
    ServingBackend,
    Target,
)

Finding = tuple[str, str, str]
Rule = Callable[[Profile], Iterator[Finding]]

SCALE_TO_ZERO_MIN_S = 300
SCALE_TO_ZERO_MAX_S = 28800
SHARED_ENDPOINT_MAX_TIMEOUT_S = 60
PEERED_NETWORK = re.compile(r"^projects/\d+/global/networks/[a-z][a-z0-9-]*$")
ANY_NETWORK = re.compile(r"^projects/[^/]+/global/networks/[a-z][a-z0-9-]*$")
PEERED_MAX_TIMEOUT_S = 60
# Google Cloud project ids: 6-30 characters, a lowercase letter first, no trailing hyphen;
# older domain-scoped projects carry a `domain.com:` prefix.
PROJECT_ID = re.compile(r"^(?:[a-z0-9.-]+\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
# The bundled servers' VXSERVE_AUTOCAST values (vxserve's config.AUTOCAST_MODES; a test
# keeps the two equal, since vxdeploy never imports the serving runtime).
AUTOCAST_VARIABLE = "VXSERVE_AUTOCAST"
AUTOCAST_MODES = ("off", "bf16", "fp16")


def effective_accelerator(profile: Profile) -> tuple[str, int]:
    """The accelerator type and count a deploy sends: built-in GPUs are implied by the type."""
    machine = catalog.MACHINE_TYPES.get(profile.machine.machine_type)
    if machine and machine.builtin_accelerator:
        return machine.builtin_accelerator, machine.builtin_count
    return profile.machine.accelerator_type, profile.machine.accelerator_count


def _identity(profile: Profile) -> Iterator[Finding]:
    if not PROJECT_ID.match(profile.project):
        yield ("project", f"{profile.project!r} is not a Google Cloud project id",
               "6-30 characters: lowercase letters, digits and hyphens, starting with a "
               "letter and not ending with a hyphen (the project id, not its name or number)")
    if profile.region not in catalog.REGIONS:
        guess = difflib.get_close_matches(profile.region, catalog.REGIONS, n=2)
        hint = f"; did you mean {' or '.join(repr(g) for g in guess)}?" if guess else ""
        yield ("region", f"Vertex AI has no region {profile.region!r}{hint}",
               ", ".join(catalog.REGIONS))
    account = profile.machine.service_account
    if account and not EMAIL.match(account):
        yield ("machine.service_account", f"{account!r} is not a service account e-mail",
               "an e-mail address, e.g. NAME@PROJECT.iam.gserviceaccount.com (or leave empty)")


def serving_backend(profile: Profile) -> str:
    """Which engine the tensorrt container will run for this profile, in words ("" for
    other containers): the plan shows it, so a CPU deploy is never a silent surprise."""
    model = profile.model
    if model.container is not ContainerKind.TENSORRT:
        return ""
    accelerator = effective_accelerator(profile)[0]
    if model.backend is ServingBackend.ONNXRUNTIME:
        return "ONNX Runtime" + (f" (CUDA on {accelerator})" if accelerator else " on CPU")
    if profile.target is Target.LOCAL:
        where = "TensorRT" if model.backend is ServingBackend.TENSORRT else \
            "TensorRT with a CUDA GPU on this machine, else ONNX Runtime on CPU"
        return f"{where} (local)"
    return f"TensorRT on {accelerator}" if accelerator else "TensorRT (no GPU: refused)"


def _machine(profile: Profile) -> Iterator[Finding]:
    spec = profile.machine
    machine = catalog.MACHINE_TYPES.get(spec.machine_type)
    if machine is None:
        guess = difflib.get_close_matches(spec.machine_type, list(catalog.MACHINE_TYPES), n=3)
        hint = f"; did you mean {', '.join(guess)}?" if guess else ""
        yield ("machine.machine_type",
               f"{spec.machine_type!r} is not a machine type Vertex offers for prediction{hint}",
               catalog.machine_type_summary())
        return
    accel, count = spec.accelerator_type, spec.accelerator_count
    if accel and accel not in catalog.ACCELERATOR_TYPES:
        guess = difflib.get_close_matches(accel, catalog.ACCELERATOR_TYPES, n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        yield ("machine.accelerator_type", f"unknown accelerator {accel!r}{hint}",
               ", ".join(catalog.ACCELERATOR_TYPES))
        return
    if machine.builtin_accelerator:
        if accel and accel != machine.builtin_accelerator:
            yield ("machine.accelerator_type",
                   f"{machine.name} has {machine.builtin_count} built-in "
                   f"{machine.builtin_accelerator}; {accel} is not available on it",
                   f"{machine.builtin_accelerator} (or leave empty); {accel} runs on "
                   f"{catalog.ACCELERATOR_HOMES.get(accel, '?')}")
        elif count and count != machine.builtin_count:
            yield ("machine.accelerator_count",
                   f"{machine.name} has exactly {machine.builtin_count} "
                   f"{machine.builtin_accelerator}, not {count}",
                   f"{machine.builtin_count} (or 0 to imply it)")
        return
    if not accel:
        if count:
            yield ("machine.accelerator_count",
                   f"accelerator_count is {count} but no accelerator_type is set",
                   "0, or set machine.accelerator_type")
        return
    allowed = machine.allowed_accelerators()
    if accel not in allowed:
        where = catalog.ACCELERATOR_HOMES.get(accel, "?")
        if allowed:
            options = f"{', '.join(allowed)} on {machine.name}; {accel} needs {where}"
        else:
            options = f"no accelerators on {machine.family} machines; {accel} needs {where}"
        yield ("machine.accelerator_type",
               f"{machine.name} cannot take {accel}", options)
    elif count not in allowed[accel]:
        yield ("machine.accelerator_count",
               f"{machine.name} takes {', '.join(map(str, allowed[accel]))} x {accel}, "
               f"not {count}", ", ".join(map(str, allowed[accel])))


def _replicas(profile: Profile) -> Iterator[Finding]:
    spec = profile.machine
    if spec.min_replicas > spec.max_replicas:
        yield ("machine.min_replicas",
               f"min_replicas ({spec.min_replicas}) is above max_replicas ({spec.max_replicas})",
               f"0..{spec.max_replicas}")
    if spec.min_replicas == 0 and not spec.scale_to_zero.enabled:
        yield ("machine.min_replicas", "min_replicas = 0 needs scale-to-zero",
               ">= 1, or set machine.scale_to_zero.enabled = true")
    if spec.required_replicas > max(spec.min_replicas, 1):
        yield ("machine.required_replicas",
               f"required_replicas ({spec.required_replicas}) is above min_replicas "
               f"({spec.min_replicas})", f"0..{max(spec.min_replicas, 1)}")
    if spec.autoscaling.accelerator_duty_cycle and not effective_accelerator(profile)[0]:
        yield ("machine.autoscaling.accelerator_duty_cycle",
               "an accelerator duty-cycle target needs an accelerator",
               "0, or set machine.accelerator_type")


def _scale_to_zero(profile: Profile) -> Iterator[Finding]:
    stz = profile.machine.scale_to_zero
    if not stz.enabled:
        return
    if profile.machine.min_replicas != 0:
        yield ("machine.min_replicas",
               f"scale-to-zero needs min_replicas = 0, not {profile.machine.min_replicas}", "0")
    if profile.endpoint.kind is EndpointKind.PUBLIC:
        yield ("machine.scale_to_zero.enabled",
               "scale-to-zero is not available on the shared public endpoint",
               "endpoint.kind = dedicated, psc or vpc-peering")
    if profile.rollout.strategy in (RolloutStrategy.CANARY, RolloutStrategy.LINEAR,
                                    RolloutStrategy.MANUAL):
        yield ("rollout.strategy",
               "scale-to-zero endpoints serve one model, so traffic cannot be split",
               "all-at-once")
    for name in ("idle_scaledown_period_s", "min_scaleup_period_s"):
        value = getattr(stz, name)
        if not SCALE_TO_ZERO_MIN_S <= value <= SCALE_TO_ZERO_MAX_S:
            yield (f"machine.scale_to_zero.{name}", f"{value} s is outside Vertex's range",
                   f"{SCALE_TO_ZERO_MIN_S}..{SCALE_TO_ZERO_MAX_S} seconds")


def _networking(profile: Profile) -> Iterator[Finding]:
    endpoint = profile.endpoint
    kind = endpoint.kind
    if kind is EndpointKind.PSC:
        if not endpoint.psc_project_allowlist:
            yield ("endpoint.psc_project_allowlist",
                   "a Private Service Connect endpoint needs at least one allowed project",
                   "a list of project ids, e.g. [\"my-project\"]")
        if endpoint.psc_network and not ANY_NETWORK.match(endpoint.psc_network):
            yield ("endpoint.psc_network", f"{endpoint.psc_network!r} is not a network name",
                   "projects/PROJECT/global/networks/NAME")
    elif endpoint.psc_project_allowlist or endpoint.psc_network:
        field = "psc_project_allowlist" if endpoint.psc_project_allowlist else "psc_network"
        yield (f"endpoint.{field}", f"Private Service Connect settings need kind = \"psc\", "
               f"not {kind.value!r}", "psc")
    if kind is EndpointKind.VPC_PEERING:
        if not PEERED_NETWORK.match(endpoint.network):
            yield ("endpoint.network",
                   f"a VPC-peered endpoint needs the network by project number, got "
                   f"{endpoint.network!r}", "projects/{PROJECT_NUMBER}/global/networks/{NAME}")
        if profile.rollout.strategy is not RolloutStrategy.ALL_AT_ONCE:
            yield ("rollout.strategy",
                   "a VPC-peered endpoint serves one model: no traffic split, no canary",
                   "all-at-once")
        if profile.rollout.old_version is OldVersionPolicy.KEEP:
            yield ("rollout.old_version",
                   "a VPC-peered endpoint serves one model, so the old version cannot stay "
                   "deployed", "undeploy")
        if endpoint.inference_timeout_s > PEERED_MAX_TIMEOUT_S:
            yield ("endpoint.inference_timeout_s",
                   f"a VPC-peered private endpoint times out at {PEERED_MAX_TIMEOUT_S} s",
                   f"1..{PEERED_MAX_TIMEOUT_S}, or kind = dedicated/psc for up to 3600")
    elif endpoint.network:
        yield ("endpoint.network",
               "network is only for VPC-peered endpoints; PSC and peering are exclusive",
               "kind = \"vpc-peering\", or remove endpoint.network")
    if kind is EndpointKind.PUBLIC and endpoint.inference_timeout_s > SHARED_ENDPOINT_MAX_TIMEOUT_S:
        yield ("endpoint.inference_timeout_s",
               f"the shared public endpoint times out at {SHARED_ENDPOINT_MAX_TIMEOUT_S} s",
               f"1..{SHARED_ENDPOINT_MAX_TIMEOUT_S}, or kind = dedicated/psc for up to 3600")


def _rollout(profile: Profile) -> Iterator[Finding]:
    policy = profile.rollout
    steps = policy.steps
    if policy.strategy in (RolloutStrategy.CANARY, RolloutStrategy.LINEAR):
        if not steps:
            yield ("rollout.steps", f"a {policy.strategy.value} rollout needs steps",
                   "ascending percentages, e.g. [10, 50, 100]")
        if any(step != int(step) for step in steps):
            yield ("rollout.steps", f"traffic shares are whole percents, got {steps}",
                   "integers in 1..100")
        if any(b <= a for a, b in pairwise(steps)):
            yield ("rollout.steps", f"steps must be strictly ascending, got {steps}",
                   "ascending percentages in 0..100")
        if steps and steps[0] <= 0:
            yield ("rollout.steps", "the first step must send the candidate some traffic",
                   "a first step in (0, 100]")
        if policy.strategy is RolloutStrategy.LINEAR and steps and steps[-1] != 100:
            yield ("rollout.steps", f"a linear rollout ends at 100, got {steps[-1]:g}",
                   "a last step of 100")
        if policy.strategy is RolloutStrategy.CANARY and steps and steps[0] >= 100:
            yield ("rollout.steps", "a canary's first step must be below 100",
                   "a first step in (0, 100)")
    if policy.old_version is OldVersionPolicy.KEEP and profile.machine.scale_to_zero.enabled:
        yield ("rollout.old_version", "scale-to-zero endpoints serve one model", "undeploy")


def _model(profile: Profile) -> Iterator[Finding]:
    model = profile.model
    if model.container is ContainerKind.CUSTOM and not model.image:
        yield ("model.image", "a custom container needs an image",
               "an image reference, e.g. us-docker.pkg.dev/P/R/NAME@sha256:...")
    if profile.target is Target.VERTEX:
        if model.artifact_uri and not model.artifact_uri.startswith("gs://") and \
                not profile.staging_bucket:
            yield ("model.artifact_uri",
                   f"Vertex reads artifacts from Cloud Storage, got {model.artifact_uri!r}",
                   "gs://BUCKET/PATH, or a local folder with staging_bucket = \"gs://BUCKET\" "
                   "(vxdeploy uploads it)")
        if model.container is ContainerKind.TENSORRT and not effective_accelerator(profile)[0] \
                and model.backend is not ServingBackend.ONNXRUNTIME:
            yield ("model.backend" if model.backend is ServingBackend.TENSORRT
                   else "model.container",
                   "the TensorRT container needs an NVIDIA GPU for TensorRT",
                   'backend = "onnxruntime" to serve with ONNX Runtime on CPU machines, '
                   "an accelerator, or flask / torchserve")
    if model.backend is not ServingBackend.AUTO and model.container is not ContainerKind.TENSORRT:
        yield ("model.backend", f"only the tensorrt container has serving backends, got "
               f"container {model.container.value!r}", 'auto (or container = "tensorrt")')
    if model.compile is not CompileMode.OFF and model.container in (ContainerKind.CUSTOM,
                                                                     ContainerKind.TRITON):
        yield ("model.compile", f"the {model.container.value} container does not serve "
               "compiled PyTorch artifacts", 'off (or container = "flask", "torchserve", '
               '"tensorrt")')
    env_backend = model.env.get("VXSERVE_TRT_BACKEND")
    if env_backend and model.backend is not ServingBackend.AUTO and \
            env_backend != model.backend.value:
        yield ("model.env.VXSERVE_TRT_BACKEND", f"{env_backend!r} contradicts model.backend "
               f"{model.backend.value!r}", "set one of them")
    autocast = model.env.get(AUTOCAST_VARIABLE)
    if autocast is not None:
        yield from _autocast(model.container, autocast)
    for key in model.env:
        if key.startswith("AIP_"):
            yield (f"model.env.{key}", "Vertex sets AIP_* variables itself",
                   "names not starting with AIP_")


def _autocast(container: ContainerKind, value: str) -> Iterator[Finding]:
    """VXSERVE_AUTOCAST in model.env: a value the server would refuse fails its start-up on
    Vertex, after the upload and a long deploy, so it is refused here first. The value is
    read the way the servers read it (blank means off, case and spaces do not count), so
    this refuses exactly what they refuse."""
    field = f"model.env.{AUTOCAST_VARIABLE}"
    mode = value.strip().lower() or "off"
    if container is ContainerKind.TENSORRT:
        if mode != "off":
            yield (field, "the tensorrt container sets its precision with "
                   "VXSERVE_TRT_PRECISION; it refuses to start with VXSERVE_AUTOCAST other "
                   "than off", "remove it and set VXSERVE_TRT_PRECISION (fp16, fp32 or int8)")
    elif container in (ContainerKind.FLASK, ContainerKind.TORCHSERVE) and \
            mode not in AUTOCAST_MODES:
        yield (field, f"{value!r} is not a precision the bundled servers know",
               ", ".join(AUTOCAST_MODES))


def _alerts(profile: Profile) -> Iterator[Finding]:
    if profile.alerts.duration_s % 60:
        yield ("alerts.duration_s", f"{profile.alerts.duration_s} s is not whole minutes",
               "a multiple of 60")


def _triton(profile: Profile) -> Iterator[Finding]:
    from vxdeploy.profile.triton import triton_findings

    yield from triton_findings(profile)


RULES: tuple[Rule, ...] = (_identity, _machine, _replicas, _scale_to_zero, _networking, _rollout,
                           _model, _alerts, _triton)


def check_profile(profile: Profile) -> list[Finding]:
    """Every rule's findings, in rule order."""
    return [finding for rule in RULES for finding in rule(profile)]
