"""Compiled PyTorch: AOTInductor packages, and `torch.compile` with a persistent cache.

Two ways to stop paying Python overhead per forward pass, with different costs:

- An AOTInductor package (`torch._inductor.aoti_compile_and_package`) is compiled once,
  ahead of time, by `vxdeploy package --compile aoti`: the server only dlopens a shared
  library. It shares the `.pt2` suffix with torch.export programs, so the format is told
  from the archive's contents (`data/aotinductor/`), never from the name. The package is
  machine code for the device (and CPU instruction set) it was built on.
- `torch.compile` (manifest "compile": "compile", or VXSERVE_COMPILE=compile) compiles an
  eager, state-dict or torch.export model when the server starts, with the batch dimension
  marked dynamic, and warms it up on the example instances before health turns 200.
  Inductor's FX graph and AOTAutograd caches live in a persistent folder
  (VXSERVE_COMPILE_CACHE_DIR, default $VXSERVE_CACHE_DIR/compile), which `python -m
  vxserve.warm` fills at image build time so a new replica loads kernels instead of
  compiling them.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import Manifest, is_aoti_package  # noqa: F401 - re-exported
from .config import COMPILE_MODES, ServeConfig
from .errors import ConfigError

log = logging.getLogger("vxserve.compiled")

CACHE_ENV = "VXSERVE_COMPILE_CACHE_DIR"
_AOTI_DIR = "/data/aotinductor/"
# Shapes a model is compiled for at warm-up: a dynamic batch (marked on the batch of 2) and
# batch 1, which dynamo always specialises (sizes 0 and 1 are never symbolic).
WARMUP_BATCHES = (2, 1)


def package_device(path: Path) -> str:
    """The device type ("cpu", "cuda") an AOTInductor package was compiled for."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if _AOTI_DIR in "/" + name and name.endswith("_metadata.json"):
                try:
                    meta = json.loads(archive.read(name))
                except ValueError:
                    continue
                if isinstance(meta, dict) and meta.get("AOTI_DEVICE_KEY"):
                    return str(meta["AOTI_DEVICE_KEY"])
    return "cpu"


def load_aoti_package(path: Path, device: Any) -> Any:
    """Load an AOTInductor package on `device`, which must be the kind it was built for."""
    import torch

    built_for = package_device(path)
    runs_on = getattr(device, "type", str(device))
    if built_for != runs_on:
        raise ConfigError(
            f"{path}: this AOTInductor package was compiled for {built_for}, but the server "
            f"runs on {runs_on}; package it on a {runs_on} machine "
            f"(vxdeploy package --compile aoti) or set VXSERVE_DEVICE={built_for}"
        )
    index = device.index if runs_on == "cuda" and device.index is not None else -1
    if runs_on == "cuda" and index < 0:
        index = torch.cuda.current_device()
    try:
        return torch._inductor.aoti_load_package(str(path), device_index=index)
    except (RuntimeError, OSError) as exc:
        # Typically a package built for another torch version or CPU instruction set.
        raise ConfigError(f"{path}: cannot load the AOTInductor package ({exc})") from None


def compile_mode(manifest: Manifest, config: ServeConfig) -> str:
    """VXSERVE_COMPILE when set, else the manifest's "compile" ("off" when absent)."""
    mode = config.compile or manifest.compile or "off"
    if mode not in COMPILE_MODES:
        raise ConfigError(
            f"{manifest.directory / 'vxserve.json'}: compile {mode!r} is not one of: "
            f"{', '.join(COMPILE_MODES)}"
        )
    return mode


def cache_dir(config: ServeConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where inductor keeps compiled kernels across restarts."""
    env = os.environ if env is None else env
    raw = env.get(CACHE_ENV, "").strip()
    return Path(raw) if raw else config.cache_dir / "compile"


@dataclass
class CompileReport:
    """What one start-up compile did, for the log line and for `vxserve.warm`'s output."""

    model: str
    seconds: float
    batches: tuple[int, ...]
    cache_dir: str
    fx_hits: int
    fx_misses: int
    aot_hits: int
    aot_misses: int
    threads: int = 0
    graphs: int = 0

    @property
    def cache_hit(self) -> bool:
        """Every graph came from the cache (nothing was compiled from scratch)."""
        return self.fx_misses == 0 and self.aot_misses == 0 and (self.fx_hits + self.aot_hits) > 0

    def line(self) -> str:
        verdict = "cache hit" if self.cache_hit else "compiled (cache miss)"
        if self.graphs == 0:
            verdict = "nothing compiled: dynamo captured no graph, the model runs eagerly"
        return (
            f"torch.compile: {self.model}, batch dimension dynamic, warmed on batches "
            f"{', '.join(map(str, self.batches))} in {self.seconds:.1f} s: {verdict} "
            f"(FX graph cache {self.fx_hits} hit / {self.fx_misses} miss, AOTAutograd "
            f"{self.aot_hits} hit / {self.aot_misses} miss; {self.graphs} graph(s)) in "
            f"{self.cache_dir}, "
            f"{self.threads} CPU thread(s) (part of the cache key)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__},
                "cache_hit": self.cache_hit}


class BatchDynamic:
    """A `torch.compile`d module whose inputs have their batch dimension marked dynamic.

    Marking (not `dynamic=True`) keeps every other dimension static: a model that
    specialises on a sequence length (an LSTM) compiles the same way torch.export does.
    """

    def __init__(self, compiled: Any, original: Any):
        self.compiled = compiled
        self.original = original

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        for value in (*args, *kwargs.values()):
            if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] >= 2:
                torch._dynamo.mark_dynamic(value, 0)
        return self.compiled(*args, **kwargs)

    def eval(self) -> BatchDynamic:
        return self


def compile_module(model: Any) -> BatchDynamic:
    """`torch.compile(model)` with the batch dimension marked dynamic on every call.

    RNN modules (nn.LSTM, nn.GRU) are traced too (dynamo's `allow_rnn`): by default dynamo
    skips any frame holding one, so the tutorial's LSTM model would silently run eagerly.
    On CUDA they are left to cuDNN (dynamo's default: the frame runs eagerly, and the log
    line says nothing was compiled): tracing cuDNN's LSTM with a dynamic batch fails in
    torch 2.11 (its hidden state's shape comes out as [1, 2*batch, h]; seen on an H100).
    """
    import torch
    import torch._dynamo

    parameters = model.parameters() if hasattr(model, "parameters") else ()
    on_cpu = all(p.device.type == "cpu" for p in parameters)
    torch._dynamo.config.allow_rnn = on_cpu
    return BatchDynamic(torch.compile(model), model)


def compile_model(model: Any, manifest: Manifest, config: ServeConfig, device: Any,
                  *, cache: Path | None = None) -> tuple[BatchDynamic, CompileReport]:
    """torch.compile `model`, warm it on the example instances, and report cache use."""
    import torch
    from torch._dynamo.utils import counters

    if isinstance(model, torch.jit.ScriptModule):
        raise ConfigError(
            f"{manifest.model_file}: a TorchScript module cannot be torch.compiled; ship a "
            "state dict + model code or a torch.export program, or an AOTInductor package "
            "(vxdeploy package --compile aoti)"
        )
    folder = cache or cache_dir(config)
    use_cache_dir(folder)
    examples = warmup_batch(manifest, max(WARMUP_BATCHES))
    wrapped = compile_module(model)
    before = _cache_counts(counters)
    started = time.monotonic()
    from .precision import inference_context

    try:
        with inference_context(device, config.autocast):
            for n in WARMUP_BATCHES:
                wrapped(examples[:n].to(device))
    except ConfigError:
        raise
    except Exception as exc:  # dynamo / inductor / the C++ compiler, on the user's model
        text = str(exc).strip()
        first = (text.splitlines()[0] if text else type(exc).__name__)[:300]
        raise ConfigError(
            f"{manifest.model_file}: torch.compile failed on {type(model).__name__} "
            f"({type(exc).__name__}: {first}); on CPU inductor needs a C++ compiler (g++) "
            "and Python's headers (python3-dev) in the image; an AOTInductor package "
            "(vxdeploy package --compile aoti) does not"
        ) from None
    after = _cache_counts(counters)
    delta = {k: after[k] - before[k] for k in after}
    report = CompileReport(
        model=type(model).__name__, seconds=time.monotonic() - started, batches=WARMUP_BATCHES,
        cache_dir=str(folder), fx_hits=delta["fx_hit"], fx_misses=delta["fx_miss"],
        aot_hits=delta["aot_hit"], aot_misses=delta["aot_miss"],
        threads=torch.get_num_threads(), graphs=delta["graphs"],
    )
    log.warning("%s", report.line())
    return wrapped, report


def use_cache_dir(folder: Path) -> None:
    """Point inductor's caches at `folder`.

    Always overrides TORCHINDUCTOR_CACHE_DIR: torch writes its default into the
    environment the first time it looks, so a value found there says nothing about what
    the user asked for (VXSERVE_COMPILE_CACHE_DIR is the knob).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{CACHE_ENV}={folder}: cannot create the compile cache ({exc})") \
            from None
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")


def warmup_batch(manifest: Manifest, size: int) -> Any:
    """A batch of `size` rows cycled from the manifest's example instances."""
    import torch

    if not manifest.example_instances:
        raise ConfigError(
            f"{manifest.directory / 'vxserve.json'}: compiling needs example_instances "
            "(valid instances to compile and warm the model on)"
        )
    rows = [manifest.example_instances[i % len(manifest.example_instances)] for i in range(size)]
    try:
        batch = torch.as_tensor(rows)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ConfigError(
            f"{manifest.directory / 'vxserve.json'}: example_instances are not one rectangular "
            f"array ({exc})"
        ) from None
    dtype = {"int64": torch.int64, "long": torch.int64, "int": torch.int64, "int32": torch.int32,
             "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
             "bool": torch.bool}.get(manifest.input_dtype or "")
    if dtype is not None:
        return batch.to(dtype)
    return batch.to(torch.float32) if batch.is_floating_point() else batch.to(torch.int64)


def _cache_counts(counters: Any) -> dict[str, int]:
    return {
        "fx_hit": int(counters["inductor"]["fxgraph_cache_hit"]),
        "fx_miss": int(counters["inductor"]["fxgraph_cache_miss"]),
        "aot_hit": int(counters["aot_autograd"]["autograd_cache_hit"]),
        "aot_miss": int(counters["aot_autograd"]["autograd_cache_miss"]),
        "graphs": int(counters["stats"]["unique_graphs"]),
    }


def maybe_compile(model: Any, manifest: Manifest, config: ServeConfig, device: Any) -> Any:
    """The model as the server should run it: compiled when asked for, else unchanged."""
    mode = compile_mode(manifest, config)
    if mode == "off":
        return model
    if manifest.format == "aoti":
        log.warning("compile=%s ignored: %s is already an AOTInductor package", mode,
                    manifest.model_file.name)
        return model
    compiled, _ = compile_model(model, manifest, config, device)
    return compiled
