"""Generate a Triton model repository (config.pbtxt + model) from a vxserve artifact folder.

The image and the emulator's process runtime both call this, so the `config.pbtxt` that
Triton loads locally is byte-for-byte the one the image would load on Vertex. Settings
come from `VXSERVE_TRITON_*` variables (the profile's batching section sets them), never
from the request path, so a bad value fails at start-up with the variable's name.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# vxserve.json dtype -> Triton data type (model_config.proto DataType names).
TRITON_DTYPES = {
    "int64": "TYPE_INT64",
    "int32": "TYPE_INT32",
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "bool": "TYPE_BOOL",
    "string": "TYPE_STRING",
}
MODEL_NAME = "model"
BACKENDS = ("auto", "python", "pytorch", "onnxruntime")


class RepositoryError(ValueError):
    """A setting or artifact that cannot become a Triton model repository."""


@dataclass(frozen=True)
class TritonSettings:
    max_batch_size: int = 32
    preferred_batch_sizes: tuple[int, ...] = (8, 16, 32)
    max_queue_delay_us: int = 2000
    instance_count: int = 1
    instance_kind: str = "KIND_CPU"
    ensemble: bool = False
    backend: str = "auto"  # the model step's: auto, python, pytorch, onnxruntime

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TritonSettings:
        from vxserve.config import env_choice, env_int
        from vxserve.errors import ConfigError

        def number(name: str, default: int, minimum: int) -> int:
            try:
                return env_int(env, name, default, minimum=minimum)
            except ConfigError as exc:
                raise RepositoryError(str(exc)) from None

        max_batch = number("VXSERVE_TRITON_MAX_BATCH_SIZE", cls.max_batch_size, 1)
        raw_sizes = env.get("VXSERVE_TRITON_PREFERRED_BATCH_SIZES", "").strip()
        if raw_sizes:
            try:
                sizes = tuple(int(part) for part in raw_sizes.split(",") if part.strip())
            except ValueError:
                raise RepositoryError(
                    f"VXSERVE_TRITON_PREFERRED_BATCH_SIZES={raw_sizes!r}: "
                    "expected comma-separated integers, e.g. 8,16,32"
                ) from None
        else:
            sizes = tuple(size for size in cls.preferred_batch_sizes if size <= max_batch)
        bad = [size for size in sizes if not 1 <= size <= max_batch]
        if bad:
            raise RepositoryError(
                f"VXSERVE_TRITON_PREFERRED_BATCH_SIZES: {bad} outside 1..{max_batch} "
                "(VXSERVE_TRITON_MAX_BATCH_SIZE)"
            )
        kind = env.get("VXSERVE_TRITON_INSTANCE_KIND", "").strip().upper() or "KIND_CPU"
        if kind not in ("KIND_CPU", "KIND_GPU"):
            raise RepositoryError(
                f"VXSERVE_TRITON_INSTANCE_KIND={kind!r} is not one of: KIND_CPU, KIND_GPU"
            )
        try:
            ensemble = env_choice(env, "VXSERVE_TRITON_ENSEMBLE", "off", ("on", "off")) == "on"
            backend = env_choice(env, "VXSERVE_TRITON_BACKEND", "auto", BACKENDS)
        except ConfigError as exc:
            raise RepositoryError(str(exc)) from None
        return cls(
            ensemble=ensemble,
            backend=backend,
            max_batch_size=max_batch,
            preferred_batch_sizes=sizes,
            max_queue_delay_us=number("VXSERVE_TRITON_MAX_QUEUE_DELAY_US", 2000, 0),
            instance_count=number("VXSERVE_TRITON_INSTANCE_COUNT", 1, 1),
            instance_kind=kind,
        )


def input_spec(manifest: Mapping[str, object]) -> tuple[str, list[int]]:
    """Triton data type and per-instance dims (batch dimension excluded) of the input."""
    spec = manifest.get("input")
    if not isinstance(spec, dict):
        raise RepositoryError("vxserve.json: 'input' must be an object with dtype and shape")
    dtype = str(spec.get("dtype", "float32"))
    if dtype not in TRITON_DTYPES:
        raise RepositoryError(
            f"vxserve.json: input.dtype {dtype!r} is not one of: {', '.join(TRITON_DTYPES)}"
        )
    shape = spec.get("shape", [])
    if not isinstance(shape, list):
        raise RepositoryError("vxserve.json: input.shape must be a list (null = any size)")
    return TRITON_DTYPES[dtype], [-1 if dim is None else int(dim) for dim in shape]


def tensor_text(name: str, dtype: str, dims: list[int]) -> str:
    """One entry of a config.pbtxt `input` / `output` list."""
    return f'{{ name: "{name}" data_type: {dtype} dims: [ {", ".join(map(str, dims))} ] }}'


def render_config(
    name: str,
    backend: str,
    dtype: str,
    dims: list[int],
    settings: TritonSettings,
    pythonpath: str = "",
    *,
    inputs: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
    batching: bool = True,
    role: str = "",
) -> str:
    """config.pbtxt text (protobuf text format) with dynamic batching and instance groups.

    `inputs` / `outputs` (tensor_text entries) replace the single model's INPUT__0 (the
    instance) and OUTPUT__0 (JSON rows); `role` names an ensemble step for python_model.py.
    """
    inputs = inputs or (tensor_text("INPUT__0", dtype, dims),)
    outputs = outputs or (tensor_text("OUTPUT__0", "TYPE_UINT8", [-1]),)
    params = {"VXSERVE_PYTHONPATH": pythonpath, "VXSERVE_ROLE": role}
    return (
        f'name: "{name}"\n'
        f'backend: "{backend}"\n'
        f"max_batch_size: {settings.max_batch_size}\n"
        + "input [\n" + ",\n".join(f"  {entry}" for entry in inputs) + "\n]\n"
        + "output [\n" + ",\n".join(f"  {entry}" for entry in outputs) + "\n]\n"
        + (dynamic_batching(settings) if batching else "")
        + f"instance_group [\n  {{ count: {settings.instance_count} "
        f"kind: {settings.instance_kind} }}\n]\n"
        + "".join(
            f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}\n'
            for key, value in params.items() if value
        )
    )


def dynamic_batching(settings: TritonSettings) -> str:
    preferred = ", ".join(str(size) for size in settings.preferred_batch_sizes)
    return (
        "dynamic_batching {\n"
        + (f"  preferred_batch_size: [ {preferred} ]\n" if preferred else "")
        + f"  max_queue_delay_microseconds: {settings.max_queue_delay_us}\n"
        "}\n"
    )


def serving_pythonpath() -> str:
    """This interpreter's import path, for the Python backend's stub, which starts with a
    bare path (no PYTHONPATH, no virtual environment): vxserve, torch and numpy must be
    importable there exactly as here."""
    import sys

    return os.pathsep.join(str(Path(p).resolve()) for p in sys.path if p and Path(p).is_dir())


def generate(artifacts: Path, repository: Path, env: Mapping[str, str] | None = None) -> Path:
    """Write `<repository>/model/{config.pbtxt,1/model.py}` serving `artifacts` via vxserve.

    The Python-backend model loads the artifact with vxserve's own loader, so the same
    handler, pre- and post-processing run as on flask and torchserve; its OUTPUT__0 is
    one UTF-8 JSON prediction per instance (a UINT8 row, space-padded).
    """
    settings = TritonSettings.from_env(os.environ if env is None else env)
    manifest_path = artifacts / "vxserve.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise RepositoryError(f"{manifest_path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise RepositoryError(f"{manifest_path}: not valid JSON: {exc}") from None
    dtype, dims = input_spec(manifest)
    from vxtriton.ensemble import generate_ensemble, model_backend

    backend = model_backend(settings, artifacts)
    if settings.ensemble or backend != "python":
        return generate_ensemble(artifacts, repository, settings, dtype, dims, backend)
    folder = repository / MODEL_NAME
    version = folder / "1"
    version.mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(
        render_config(MODEL_NAME, "python", dtype, dims, settings, serving_pythonpath())
    )
    shutil.copyfile(Path(__file__).with_name("python_model.py"), version / "model.py")
    return folder
