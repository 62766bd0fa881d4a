"""Export the user's torch model to ONNX with a dynamic batch dimension, once, cached.

Which exporter, by artifact format:
- TorchScript and state dict (an nn.Module): TorchScript-based exporter
  (`dynamo=False`) with `dynamic_axes`. It keeps every dimension the manifest declares as
  variable (batch and, for the example model, sequence length) dynamic, where the
  torch.export-based exporter specialises an LSTM's sequence length to the example's.
- torch.export program (.pt2): the dynamo exporter on the program itself, which keeps the
  program's own dynamic dimensions (whatever was static at export stays static, and the
  server then validates instances against that).
- AOTInductor package (.pt2 of compiled code): the torch.export program named by the
  manifest's `export_file` (which `vxdeploy package --compile aoti` writes beside it).
- ONNX artifacts are used as they are.

The file is cached under a key of the model file's hash, the model code, the format and
the torch version, and checked against eager PyTorch on a batch size other than the one
it was traced with before it is used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from vxserve.artifacts import MODEL_CODE_FILE, Manifest
from vxserve.errors import ConfigError

log = logging.getLogger("vxtrt.export")
EXPORT_VERSION = "1"  # bump when the export recipe changes, to invalidate cached files
INPUT_NAME = "input"
OPSET = 17


def export_key(manifest: Manifest) -> str:
    """What identifies one export: model bytes, model code, format, torch version."""
    import torch

    h = hashlib.sha256()
    h.update(f"{EXPORT_VERSION}|{manifest.format}|{manifest.model_class}|".encode())
    h.update(repr(sorted(manifest.model_kwargs.items())).encode())
    h.update(f"|{torch.__version__}|{OPSET}|".encode())
    h.update(_file_hash(manifest.model_file).encode())
    code = manifest.directory / MODEL_CODE_FILE
    if manifest.format == "state_dict" and code.exists():
        h.update(code.read_bytes())
    return h.hexdigest()[:24]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def example_batch(manifest: Manifest, batch: int) -> Any:
    """A torch batch shaped like valid instances (the manifest's examples when present)."""
    import torch

    dtype = getattr(torch, {"long": "int64", "int": "int64", "float": "float32"}.get(
        manifest.input_dtype or "", manifest.input_dtype or "float32"), torch.float32)
    if manifest.example_instances:
        rows = [manifest.example_instances[i % len(manifest.example_instances)]
                for i in range(batch)]
        return torch.as_tensor(rows).to(dtype)
    if manifest.input_shape is None:
        raise ConfigError(
            f"{manifest.directory}: exporting to ONNX needs example_instances or input.shape "
            "in vxserve.json (to trace the model)"
        )
    shape = [batch, *[8 if d is None else int(d) for d in manifest.input_shape]]
    if dtype.is_floating_point:
        return torch.rand(shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    low = int(manifest.input_range[0]) if manifest.input_range else 0
    return torch.full(shape, low, dtype=dtype)


def to_onnx(manifest: Manifest, cache_dir: Path) -> Path:
    """Return an ONNX file for the artifact, exporting (and verifying) on first use."""
    if manifest.format == "onnx":
        return manifest.model_file
    manifest = exportable(manifest)
    target = cache_dir / "onnx" / f"{export_key(manifest)}.onnx"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        reference = _export(manifest, tmp)
        _verify(tmp, *reference)
        os.replace(tmp, target)  # readers never see a half-written file
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    log.warning("exported %s (%s) to ONNX: %s", manifest.model_file.name, manifest.format, target)
    return target


def exportable(manifest: Manifest) -> Manifest:
    """The manifest to export ONNX from: for an AOTInductor package (compiled machine code,
    which no exporter reads), the torch.export program it was compiled from."""
    if manifest.format != "aoti":
        if manifest.compile not in ("", "off"):
            log.warning("compile=%s does not apply here: vxtrt serves the model through ONNX",
                        manifest.compile)
        return manifest
    if manifest.export_file is None:
        raise ConfigError(
            f"{manifest.model_file} is an AOTInductor package, which cannot be exported to "
            "ONNX: set export_file in vxserve.json to the torch.export program it was compiled "
            "from (`vxdeploy package --compile aoti` writes model.export.pt2 beside it)"
        )
    log.warning("AOTInductor package %s: vxtrt exports ONNX from its torch.export program %s",
                manifest.model_file.name, manifest.export_file.name)
    return dataclasses.replace(manifest, format="export", model_file=manifest.export_file)


def _export(manifest: Manifest, out: Path) -> tuple[Any, Any, Any]:
    """Write the ONNX file; returns (model, probe batch, eager outputs) for verification."""
    import torch
    from vxserve.loading import load_torch_model

    cpu = torch.device("cpu")
    example = example_batch(manifest, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if manifest.format == "export":
            program = torch.export.load(str(manifest.model_file))
            model = program.module()
            n_out = _count_outputs(model, example)
            torch.onnx.export(program, f=str(out), dynamo=True, input_names=[INPUT_NAME],
                              output_names=_output_names(n_out), opset_version=max(OPSET, 18),
                              verbose=False)
        else:
            model = load_torch_model(manifest, cpu)
            n_out = _count_outputs(model, example)
            dynamic = {INPUT_NAME: {0: "batch"}}
            for axis, dim in enumerate(manifest.input_shape or (), start=1):
                if dim is None:
                    dynamic[INPUT_NAME][axis] = f"dim{axis}"
            for name in _output_names(n_out):
                dynamic[name] = {0: "batch"}
            torch.onnx.export(model, (example,), str(out), dynamo=False,
                              input_names=[INPUT_NAME], output_names=_output_names(n_out),
                              dynamic_axes=dynamic, opset_version=OPSET)
    probe = example_batch(manifest, 3)  # a batch size the trace never saw
    with torch.inference_mode():
        eager = model(probe)
    return model, probe, eager


def onnx_instance_shape(path: Path) -> tuple[int | None, ...]:
    """The graph input's per-instance shape (batch removed), None for dynamic dims."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ConfigError(f"{path}: vxtrt serves graphs with one input, got {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in dims[1:])


def _count_outputs(model: Any, example: Any) -> int:
    import torch

    with torch.inference_mode():
        out = model(example)
    if isinstance(out, (tuple, list)):
        return len(out)
    if isinstance(out, dict):
        raise ConfigError(
            "models returning a dict cannot be served by vxtrt; return a tensor or tuple"
        )
    return 1


def _output_names(n: int) -> list[str]:
    return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]


def _verify(path: Path, model: Any, probe: Any, eager: Any) -> None:
    """The exported graph must give eager PyTorch's answer on a new batch size."""
    from .backends.onnxruntime import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(path)
    got = backend.run(probe.numpy())
    outputs = eager if isinstance(eager, (tuple, list)) else [eager]
    expected = [e.detach().numpy() for e in outputs]
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if g.shape != e.shape or not np.allclose(g, e, rtol=1e-3, atol=1e-4):
            diff = float(np.abs(g - e).max()) if g.shape == e.shape else "shape"
            raise ConfigError(
                f"ONNX export of output {i} disagrees with eager PyTorch on a batch of 3 "
                f"(max difference {diff}; shapes {list(g.shape)} vs {list(e.shape)})"
            )
