"""What `[model.triton]` means to the Triton container, and the rules it must follow.

The container reads its batching settings from `VXSERVE_TRITON_*` variables and writes
them into the model's `config.pbtxt` (containers/triton/vxtriton/repository.py), so the
profile's fields become those variables here: one place maps field to variable, and the
same place refuses values Triton would refuse at start-up, before anything is deployed.
"""

from __future__ import annotations

from collections.abc import Iterator

from vxdeploy.profile.model import ContainerKind, Profile, Target

# profile field (under model.triton) -> the container's variable
VARIABLES = {
    "max_batch_size": "VXSERVE_TRITON_MAX_BATCH_SIZE",
    "preferred_batch_sizes": "VXSERVE_TRITON_PREFERRED_BATCH_SIZES",
    "max_queue_delay_us": "VXSERVE_TRITON_MAX_QUEUE_DELAY_US",
    "instance_count": "VXSERVE_TRITON_INSTANCE_COUNT",
    "ensemble": "VXSERVE_TRITON_ENSEMBLE",
}
KIND_VARIABLE = "VXSERVE_TRITON_INSTANCE_KIND"


def triton_environment(profile: Profile) -> dict[str, str]:
    """The `VXSERVE_TRITON_*` variables for this profile's container ({} unless triton).

    Instances go on the GPU when a Vertex machine has one (Triton's `count` is then per
    GPU); the local tritonserver is CPU-only, so local deployments stay on KIND_CPU.
    """
    from vxdeploy.profile.rules import effective_accelerator

    if profile.model.container is not ContainerKind.TRITON:
        return {}
    triton = profile.model.triton
    env = {
        VARIABLES["max_batch_size"]: str(triton.max_batch_size),
        VARIABLES["max_queue_delay_us"]: str(triton.max_queue_delay_us),
        VARIABLES["instance_count"]: str(triton.instance_count),
    }
    if triton.ensemble:
        env[VARIABLES["ensemble"]] = "on"
    if triton.preferred_batch_sizes:
        env[VARIABLES["preferred_batch_sizes"]] = ",".join(
            str(size) for size in triton.preferred_batch_sizes)
    gpu = profile.target is Target.VERTEX and bool(effective_accelerator(profile)[0])
    env[KIND_VARIABLE] = "KIND_GPU" if gpu else "KIND_CPU"
    return env


def triton_findings(profile: Profile) -> Iterator[tuple[str, str, str]]:
    """(field, message, allowed) for batching settings Triton would refuse or ignore."""
    model = profile.model
    triton = model.triton
    if triton.model_fields_set and model.container is not ContainerKind.TRITON:
        yield ("model.triton", "batching settings are for the Triton container, got "
               f"container {model.container.value!r}",
               'container = "triton", or remove [model.triton]')
    too_big = [size for size in triton.preferred_batch_sizes if size > triton.max_batch_size]
    if too_big:
        yield ("model.triton.preferred_batch_sizes",
               f"{too_big} larger than max_batch_size {triton.max_batch_size}",
               f"sizes between 1 and {triton.max_batch_size} (model.triton.max_batch_size)")
    for field in sorted(triton.model_fields_set & VARIABLES.keys()):
        name = VARIABLES[field]
        if name in model.env:
            yield (f"model.env.{name}", f"set beside model.triton.{field}",
                   "set one of them (model.triton is the documented place)")
