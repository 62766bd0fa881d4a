"""`python -m vxserve.package SRC OUT --compile aoti|compile`: compiled artifacts from a model.

What `vxdeploy package` runs in a child process (vxdeploy never imports torch). SRC is an
artifact folder the servers already load (state dict + model code, torch.export program,
TorchScript for `compile` only); the example instances (the manifest's
`example_instances`, or `--instances FILE` with {"instances": [...]}) are what the model
is traced and warmed on, with a dynamic batch dimension.

- `aoti`: torch.export with a dynamic batch, then AOTInductor. OUT holds `model.pt2` (the
  package), `model.export.pt2` (the program it came from: the tensorrt container exports
  ONNX from it, since a compiled package cannot be exported again), the rest of SRC, and a
  `vxserve.json` saying so.
- `compile`: OUT is SRC with `"compile": "compile"` in its manifest; the model is compiled
  once here to prove it compiles, on the same cache folder a server would use.

Both compare the result with eager PyTorch on a batch size the trace never saw. The last
line on stdout is a JSON report; exit 0 when it worked, 2 with the problems when not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .artifacts import MANIFEST_NAME, read_manifest
from .errors import ConfigError

PACKAGE_MODES = ("aoti", "compile")
AOTI_FILE = "model.pt2"
EXPORT_FILE = "model.export.pt2"
MAX_BATCH = 4096
PROBE_BATCH = 3  # a batch size neither the trace (2) nor batch 1 used
RTOL, ATOL = 1e-3, 1e-4


class PackageProblem(Exception):
    """A problem with the user's files, reported as {file, field, message, allowed}."""

    def __init__(self, file: str, field: str, message: str, allowed: str = ""):
        super().__init__(message)
        self.problem = {"file": file, "field": field, "message": message, "allowed": allowed}


def package(src: Path, out: Path, mode: str, instances: Path | None = None) -> dict[str, Any]:
    """Write the compiled artifacts for `src` into `out`; returns the report."""
    import torch

    from .config import ServeConfig
    from .loading import load_torch_model

    if mode not in PACKAGE_MODES:
        raise PackageProblem("", "--compile", f"{mode!r} is not a compile mode",
                             ", ".join(PACKAGE_MODES))
    src, out = Path(src).resolve(), Path(out).resolve()
    if out == src or src in out.parents:
        raise PackageProblem(str(out), "--out", "the output folder must not be the model "
                             "folder or inside it")
    try:
        manifest = read_manifest(src)
    except ConfigError as exc:
        raise PackageProblem(str(src / MANIFEST_NAME), "", str(exc)) from None
    raw = _raw_manifest(src)
    examples = _examples(src, raw, instances)
    manifest.example_instances = examples
    if manifest.format in ("aoti", "onnx"):
        raise PackageProblem(str(manifest.model_file), "format",
                             f"{manifest.format} artifacts cannot be compiled again; package "
                             "the model they came from", "torchscript, export, state_dict")
    started = time.monotonic()
    config = ServeConfig.from_env()
    if config.torch_threads > 0:
        # Part of inductor's cache key: warm with the thread count the servers will use.
        torch.set_num_threads(config.torch_threads)
    cpu = torch.device("cpu")
    try:
        model = load_torch_model(manifest, cpu)
    except ConfigError as exc:
        raise PackageProblem(str(manifest.model_file), "model_file", str(exc)) from None
    from .compiled import warmup_batch

    try:
        batch = warmup_batch(manifest, 2)
        probe = warmup_batch(manifest, PROBE_BATCH)
    except ConfigError as exc:
        raise PackageProblem(_examples_file(src, instances), "example_instances",
                             str(exc)) from None
    with torch.inference_mode():
        try:
            eager = model(probe)
        except Exception as exc:  # the user's forward on the user's examples
            raise PackageProblem(_examples_file(src, instances), "example_instances",
                                 f"the model fails on the example instances: "
                                 f"{_first_line(exc)}") from None
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(src, staging, ignore=shutil.ignore_patterns("__pycache__", "*.partial"))
    new_raw = {**raw, "example_instances": examples}
    try:
        if mode == "aoti":
            got, files = _aoti(manifest, model, batch, probe, staging, new_raw)
        else:
            got, files = _compile(manifest, model, probe, staging, new_raw, config)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # no half-made artifacts left behind
        raise
    diff = _max_diff(got, eager)
    if diff is None or diff[0] > ATOL + RTOL * diff[1]:
        shutil.rmtree(staging)
        detail = "shapes differ" if diff is None else f"max difference {diff[0]:.3g}"
        raise PackageProblem(str(manifest.model_file), "", f"the {mode} model disagrees with "
                             f"eager PyTorch on a batch of {PROBE_BATCH} ({detail})")
    (staging / MANIFEST_NAME).write_text(json.dumps(new_raw, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return {
        "ok": True, "mode": mode, "source": str(src), "out": str(out),
        "format": new_raw.get("format", manifest.format), "files": files,
        "seconds": round(time.monotonic() - started, 2),
        "max_abs_diff": diff[0], "problems": [],
    }


def _aoti(manifest: Any, model: Any, batch: Any, probe: Any, staging: Path,
          raw: dict[str, Any]) -> tuple[Any, list[str]]:
    import torch

    for name in (manifest.model_file.name,):
        (staging / name).unlink(missing_ok=True)  # the package replaces the source model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if manifest.format == "export":
            program = torch.export.load(str(manifest.model_file))  # keeps its own dynamics
        else:
            if isinstance(model, torch.jit.ScriptModule):
                raise PackageProblem(str(manifest.model_file), "format",
                                     "TorchScript cannot be exported for AOTInductor; package "
                                     "the state dict + model code or a torch.export program",
                                     "export, state_dict")
            dim = torch.export.Dim("batch", min=1, max=MAX_BATCH)
            try:
                program = torch.export.export(model, (batch,), dynamic_shapes=({0: dim},))
            except Exception as exc:  # torch.export's many error types
                raise PackageProblem(str(manifest.model_file), "model_class",
                                     f"torch.export fails on this model with a dynamic batch "
                                     f"dimension: {_first_line(exc)}") from None
        torch.export.save(program, str(staging / EXPORT_FILE))
        try:
            torch._inductor.aoti_compile_and_package(program,
                                                     package_path=str(staging / AOTI_FILE))
        except Exception as exc:  # inductor / C++ compiler failures
            raise PackageProblem(str(manifest.model_file), "", "AOTInductor cannot compile "
                                 f"this model: {_first_line(exc)}") from None
    runner = torch._inductor.aoti_load_package(str(staging / AOTI_FILE))
    with torch.inference_mode():
        got = runner(probe)
    for key in ("model_class", "model_kwargs", "compile"):
        raw.pop(key, None)
    raw.update(format="aoti", model_file=AOTI_FILE, export_file=EXPORT_FILE)
    return got, [AOTI_FILE, EXPORT_FILE, MANIFEST_NAME]


def _compile(manifest: Any, model: Any, probe: Any, staging: Path, raw: dict[str, Any],
             config: Any) -> tuple[Any, list[str]]:
    import torch

    from .compiled import compile_model

    try:
        compiled, _ = compile_model(model, manifest, config, torch.device("cpu"))
        with torch.inference_mode():
            got = compiled(probe)
    except ConfigError as exc:
        raise PackageProblem(str(manifest.model_file), "format", str(exc)) from None
    except Exception as exc:  # dynamo / inductor failures on the user's model
        raise PackageProblem(str(manifest.model_file), "", "torch.compile fails on this "
                             f"model: {_first_line(exc)}") from None
    raw["compile"] = "compile"
    return got, [MANIFEST_NAME]


def _raw_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST_NAME
    if not path.exists():
        return {}
    data = json.loads(path.read_text())  # read_manifest has validated it
    return dict(data)


def _examples(src: Path, raw: dict[str, Any], instances: Path | None) -> list[Any]:
    if instances is not None:
        try:
            body = json.loads(Path(instances).read_text())
        except (OSError, ValueError) as exc:
            raise PackageProblem(str(instances), "instances", f"cannot read it: {exc}") from None
        found = body.get("instances") if isinstance(body, dict) else None
        if not isinstance(found, list) or not found:
            raise PackageProblem(str(instances), "instances", 'must be {"instances": [...]} '
                                 "with at least one instance")
        return found
    found = raw.get("example_instances")
    if not isinstance(found, list) or not found:
        raise PackageProblem(str(src / MANIFEST_NAME), "example_instances",
                             "compiling needs example instances to trace the model with; add "
                             "example_instances to vxserve.json or pass --instances FILE")
    return found


def _examples_file(src: Path, instances: Path | None) -> str:
    return str(instances) if instances is not None else str(src / MANIFEST_NAME)


def _max_diff(got: Any, want: Any) -> tuple[float, float] | None:
    """(max |got - want|, max |want|) over all outputs; None when the structure differs."""
    got_list = list(got) if isinstance(got, (tuple, list)) else [got]
    want_list = list(want) if isinstance(want, (tuple, list)) else [want]
    if len(got_list) != len(want_list):
        return None
    worst, scale = 0.0, 0.0
    for g, w in zip(got_list, want_list, strict=True):
        if tuple(g.shape) != tuple(w.shape):
            return None
        worst = max(worst, float((g.float() - w.float()).abs().max()))
        scale = max(scale, float(w.float().abs().max()))
    return worst, scale


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:400]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vxserve.package",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--compile", dest="mode", required=True, choices=PACKAGE_MODES)
    parser.add_argument("--instances", type=Path)
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    try:
        report = package(args.src, args.out, args.mode, args.instances)
        code = 0
    except PackageProblem as exc:
        report = {"ok": False, "mode": args.mode, "source": str(args.src), "out": str(args.out),
                  "problems": [exc.problem]}
        code = 2
    print(json.dumps(report))
    return code


if __name__ == "__main__":
    sys.exit(main())
