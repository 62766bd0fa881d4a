"""The ensemble repository: preprocess -> infer -> postprocess, joined as Triton's `model`.

The user's handler keeps its pre- and post-processing in Python (Triton's Python backend,
python_model.py with a VXSERVE_ROLE), while the model step can run on the backend made
for the artifact: Triton's `pytorch` backend for TorchScript, `onnxruntime` for ONNX.
Each step is its own Triton model, so the model step is dynamically batched across
requests and scaled (instance_group) apart from the Python steps.

The ensemble keeps the single model's name and tensors (`model`, INPUT__0 -> OUTPUT__0
JSON rows), so the Vertex front does not know which layout it talks to.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from vxtriton.repository import (
    MODEL_NAME,
    TRITON_DTYPES,
    RepositoryError,
    TritonSettings,
    render_config,
    serving_pythonpath,
    tensor_text,
)

# artifact format -> (Triton backend, the file name that backend loads from 1/)
NATIVE = {"torchscript": ("pytorch", "model.pt"), "onnx": ("onnxruntime", "model.onnx")}
# Where NVIDIA's Triton image keeps its backends (one folder per backend).
IMAGE_BACKENDS = Path("/opt/tritonserver/backends")
# ONNX TensorProto element types -> Triton data types.
ONNX_DTYPES = {1: "TYPE_FP32", 10: "TYPE_FP16", 7: "TYPE_INT64", 6: "TYPE_INT32",
               9: "TYPE_BOOL", 11: "TYPE_FP64"}


def installed_backends() -> set[str]:
    """The backends this Triton has: the image's folder, else only python (the wheel)."""
    root = Path(os.environ.get("VXSERVE_TRITON_BACKENDS_DIR", "") or IMAGE_BACKENDS)
    found = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    return found | {"python"}


def model_backend(settings: TritonSettings, artifacts: Path) -> str:
    """The backend of the model step: VXSERVE_TRITON_BACKEND, or for `auto` the native
    backend for the artifact's format when this Triton has it, else python."""
    from vxserve.artifacts import read_manifest

    manifest = read_manifest(artifacts)
    native = NATIVE.get(manifest.format, ("", ""))[0]
    installed = installed_backends()
    if settings.backend == "auto":
        return native if native and native in installed else "python"
    if settings.backend == "python":
        return "python"
    if settings.backend != native:
        raise RepositoryError(
            f"VXSERVE_TRITON_BACKEND={settings.backend}: the artifact is {manifest.format!r}; "
            f"allowed: auto, python{', ' + native if native else ''}")
    if settings.backend not in installed:
        raise RepositoryError(
            f"VXSERVE_TRITON_BACKEND={settings.backend}: this tritonserver has no "
            f"{settings.backend} backend (it has: {', '.join(sorted(installed))}); "
            "allowed here: auto, python")
    return settings.backend


def onnx_tensors(path: Path) -> tuple[tuple[str, str, list[int]], tuple[str, str, list[int]]]:
    """(name, Triton dtype, dims without the batch axis) of the ONNX graph's first input
    and first output: Triton's onnxruntime backend matches config tensors by these names."""
    try:
        import onnx
    except ImportError:
        raise RepositoryError("serving ONNX on Triton's onnxruntime backend needs the `onnx` "
                              "package to read the graph's tensor names") from None
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {item.name for item in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if not inputs or not graph.output:
        raise RepositoryError(f"{path}: the ONNX graph needs an input and an output")
    found = []
    for value in (inputs[0], graph.output[0]):
        kind = value.type.tensor_type
        dims = [d.dim_value if d.dim_value > 0 else -1 for d in kind.shape.dim][1:]
        if kind.elem_type not in ONNX_DTYPES:
            raise RepositoryError(f"{path}: tensor {value.name!r} has ONNX element type "
                                  f"{kind.elem_type}; allowed: {sorted(ONNX_DTYPES)}")
        found.append((value.name, ONNX_DTYPES[kind.elem_type], dims))
    return found[0], found[1]


def generate_ensemble(artifacts: Path, repository: Path, settings: TritonSettings,
                      dtype: str, dims: list[int], backend: str) -> Path:
    """Write preprocess/, infer/, postprocess/ and the ensemble `model/`; returns model/."""
    from vxserve.artifacts import read_manifest

    source = Path(__file__).with_name("python_model.py")
    pythonpath = serving_pythonpath()
    cpu = dataclasses.replace(settings, instance_kind="KIND_CPU", instance_count=1)
    in_name, in_dtype, out_name, out_dtype = "INPUT__0", dtype, "OUTPUT__0", "TYPE_FP32"
    out_dims = [-1]
    manifest = read_manifest(artifacts)
    if backend == "onnxruntime":
        (in_name, in_dtype, dims), (out_name, out_dtype, out_dims) = \
            onnx_tensors(manifest.model_file)
    if in_dtype != dtype:
        raise RepositoryError(
            f"vxserve.json input.dtype gives {dtype}, the ONNX graph takes {in_dtype}: make "
            f"them agree (allowed: {', '.join(TRITON_DTYPES)})")

    steps = {
        "preprocess": render_config(
            "preprocess", "python", dtype, dims, cpu, pythonpath, batching=False,
            role="preprocess", outputs=(tensor_text("PREPROCESSED", dtype, dims),)),
        "infer": render_config(
            "infer", backend, dtype, dims, settings,
            pythonpath if backend == "python" else "",
            inputs=(tensor_text(in_name, dtype, dims),),
            outputs=(tensor_text(out_name, out_dtype, out_dims),),
            role="infer" if backend == "python" else ""),
        "postprocess": render_config(
            "postprocess", "python", dtype, dims, cpu, pythonpath, batching=False,
            role="postprocess", inputs=(tensor_text("SCORES", out_dtype, out_dims),)),
    }
    for name, config in steps.items():
        version = repository / name / "1"
        version.mkdir(parents=True, exist_ok=True)
        (repository / name / "config.pbtxt").write_text(config)
        if name != "infer" or backend == "python":
            shutil.copyfile(source, version / "model.py")
        else:
            shutil.copyfile(manifest.model_file, version / NATIVE[manifest.format][1])
    folder = repository / MODEL_NAME
    (folder / "1").mkdir(parents=True, exist_ok=True)  # Triton wants a version folder
    (folder / "config.pbtxt").write_text(ensemble_config(
        settings, dtype, dims, in_name, out_name))
    return folder


def ensemble_config(settings: TritonSettings, dtype: str, dims: list[int],
                    infer_in: str, infer_out: str) -> str:
    """The ensemble `model`: INPUT__0 -> preprocess -> infer -> postprocess -> OUTPUT__0."""

    def step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
        maps = "".join(f'      input_map {{ key: "{k}" value: "{v}" }}\n'
                       for k, v in inputs.items())
        maps += "".join(f'      output_map {{ key: "{k}" value: "{v}" }}\n'
                        for k, v in outputs.items())
        return f'    {{\n      model_name: "{model}"\n      model_version: -1\n{maps}    }}'

    steps = [step("preprocess", {"INPUT__0": "INPUT__0"}, {"PREPROCESSED": "preprocessed"}),
             step("infer", {infer_in: "preprocessed"}, {infer_out: "scores"}),
             step("postprocess", {"SCORES": "scores"}, {"OUTPUT__0": "OUTPUT__0"})]
    return (
        f'name: "{MODEL_NAME}"\n'
        'platform: "ensemble"\n'
        f"max_batch_size: {settings.max_batch_size}\n"
        f"input [\n  {tensor_text('INPUT__0', dtype, dims)}\n]\n"
        f"output [\n  {tensor_text('OUTPUT__0', 'TYPE_UINT8', [-1])}\n]\n"
        "ensemble_scheduling {\n  step [\n" + ",\n".join(steps) + "\n  ]\n}\n"
    )
