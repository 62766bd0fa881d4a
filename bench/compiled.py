"""Compiled PyTorch benchmark: eager vs torch.compile vs AOTInductor, and start-up times.

    python bench/compiled.py [--model sentiment|tutorial] [--device cpu|cuda]
                             [--dtype fp32|fp16|bf16] [--batches 1 32] [--rounds 3]
                             [--json out.json]

Standalone: needs torch, numpy and containers/common (vxserve) only, found from this file's
place in the repository, so it runs on a GPU machine with no project dependencies.

For the example model (examples/sentiment, or examples/tutorial at the Vertex tutorial's
size), 64-token instances:

- forward pass time per batch (ms, median of the iterations that fit --seconds) at each
  batch size for eager PyTorch, torch.compile (batch dimension marked dynamic, as vxserve
  compiles it) and an AOTInductor package (torch.export with a dynamic batch, then
  `aoti_compile_and_package`), in interleaved rounds;
- start-up time in a fresh process (import, load, first prediction of one instance):
  eager, torch.compile with an empty cache, torch.compile from the warm cache the first
  start left (what `vxserve.warm` pre-fills in an image), and the AOTInductor package.

Prints a table (ranges are min-max over the rounds) and writes everything to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COMMON = REPO / "containers" / "common"
MODELS = {"sentiment": REPO / "examples" / "sentiment", "tutorial": REPO / "examples" / "tutorial"}
SEQ_LEN = 64
DTYPES = ("fp32", "fp16", "bf16")
MODES = ("eager", "compile", "aoti")


def _torch_dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def build_model(name: str, device: str, dtype: str) -> Any:
    """The example model with fixed weights, in eval mode, on `device` in `dtype`."""
    import torch

    sys.path.insert(0, str(MODELS[name]))
    try:
        import model as example  # examples/<name>/model.py
    finally:
        sys.path.pop(0)
    torch.manual_seed(1234)
    net = example.build_model() if hasattr(example, "build_model") else example.Model()
    return net.eval().to(device=device, dtype=_torch_dtype(dtype))


def vocab(name: str) -> int:
    return 20_000 if name == "sentiment" else 50_000


def tokens(name: str, batch: int, device: str, seed: int = 7) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab(name), (batch, SEQ_LEN), generator=g).to(device)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_compiled(model: Any) -> Any:
    """torch.compile the way vxserve does (vxserve.compiled.BatchDynamic)."""
    sys.path.insert(0, str(COMMON))
    from vxserve.compiled import compile_module

    return compile_module(model)


def make_aoti(model: Any, name: str, device: str, folder: Path) -> tuple[Any, Path, float]:
    """Export with a dynamic batch, compile with AOTInductor, load; returns (runner, path, s)."""
    import torch

    started = time.perf_counter()
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (tokens(name, 2, device),),
                                      dynamic_shapes=({0: batch},))
        path = Path(torch._inductor.aoti_compile_and_package(
            program, package_path=str(folder / "model.pt2")))
    seconds = time.perf_counter() - started
    index = torch.cuda.current_device() if device.startswith("cuda") else -1
    return torch._inductor.aoti_load_package(str(path), device_index=index), path, seconds


def time_forward(fn: Any, x: Any, device: str, seconds: float) -> tuple[float, float]:
    """(median, fastest) ms per call over as many calls as fit `seconds` (at least 5).

    The fastest call is reported beside the median: on a machine shared with other work
    the median swings with the neighbours' load, the fastest call much less.
    """
    import torch

    times: list[float] = []
    deadline = time.perf_counter() + seconds
    with torch.inference_mode():
        for _ in range(3):
            fn(x)
        sync(device)
        while len(times) < 5 or time.perf_counter() < deadline:
            start = time.perf_counter()
            fn(x)
            sync(device)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def max_diff(a: Any, b: Any) -> float:
    return float((a.float() - b.float()).abs().max())


# -- start-up in a fresh process ----------------------------------------------------------
def startup_child(args: argparse.Namespace) -> int:
    """`--startup MODE`: import, load, first prediction; prints {"load_s", "first_s"}."""
    started = time.perf_counter()
    import torch

    if args.cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = args.cache
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.startup == "aoti":
        index = torch.cuda.current_device() if args.device.startswith("cuda") else -1
        runner = torch._inductor.aoti_load_package(args.artifact, device_index=index)
    else:
        model = build_model(args.model, args.device, args.dtype)
        model.load_state_dict(torch.load(args.artifact, map_location=args.device,
                                         weights_only=True))
        runner = make_compiled(model) if args.startup == "compile" else model
    loaded = time.perf_counter()
    with torch.inference_mode():
        runner(tokens(args.model, 1, args.device))
    sync(args.device)
    done = time.perf_counter()
    print(json.dumps({"load_s": loaded - started, "first_s": done - loaded,
                      "total_s": done - started}))
    return 0


def run_startup(args: argparse.Namespace, mode: str, artifact: Path, cache: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--startup", mode,
               "--model", args.model, "--device", args.device, "--dtype", args.dtype,
               "--artifact", str(artifact), "--cache", cache, "--threads", str(args.threads)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"start-up run {mode} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["wall_s"] = wall
    return dict(report)


# -- the whole benchmark ------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="sentiment")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", choices=DTYPES, default="fp32")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per measurement")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up runs")
    parser.add_argument("--startup-rounds", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="which forms to build and time (eager always runs)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    # internal: one start-up measurement in a fresh process
    parser.add_argument("--startup", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--artifact", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.startup:
        return startup_child(args)

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    if args.device == "cpu" and args.dtype == "fp16":
        print("note: fp16 on CPU is slow or unsupported for LSTMs; prefer bf16", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="vxbench-compiled-"))
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(work / "bench-cache")
    model = build_model(args.model, args.device, args.dtype)
    torch.save(model.state_dict(), work / "weights.pt")

    setup: dict[str, float] = {}
    runners: dict[str, Any] = {"eager": model}
    errors: dict[str, str] = {}  # a mode that fails (e.g. dynamo on cuDNN's LSTM) is reported
    package: Path | None = None
    if "compile" in args.modes:
        started = time.perf_counter()
        try:
            compiled = make_compiled(model)
            with torch.inference_mode():
                for n in (2, 1):  # as vxserve warms: dynamic batch, then batch 1
                    compiled(tokens(args.model, n, args.device))
            sync(args.device)
            runners["compile"] = compiled
        except Exception as exc:
            errors["compile"] = _first_line(exc)
        setup["compile_warmup_s"] = time.perf_counter() - started
    if "aoti" in args.modes:
        try:
            aoti, package, setup["aoti_package_s"] = make_aoti(
                model, args.model, args.device, work)
            runners["aoti"] = aoti
        except Exception as exc:
            errors["aoti"] = _first_line(exc)
    modes = [m for m in MODES if m in runners]

    probe = tokens(args.model, 3, args.device, seed=11)
    with torch.inference_mode():
        reference = model(probe)
        diffs = {mode: max_diff(runners[mode](probe), reference) for mode in modes[1:]}

    timings: dict[str, dict[int, list[float]]] = {m: {b: [] for b in args.batches} for m in modes}
    fastest: dict[str, dict[int, list[float]]] = {m: {b: [] for b in args.batches} for m in modes}
    inputs = {b: tokens(args.model, b, args.device) for b in args.batches}
    for _ in range(args.rounds):
        for b in args.batches:
            for mode in modes:  # interleaved, so machine drift hits all alike
                median, best = time_forward(runners[mode], inputs[b], args.device, args.seconds)
                timings[mode][b].append(median)
                fastest[mode][b].append(best)

    startup: dict[str, list[dict[str, Any]]] = {}

    def report() -> None:
        result = {
            "model": args.model, "device": args.device, "dtype": args.dtype,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
            "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "rounds": args.rounds, "setup_s": setup, "max_abs_diff_vs_eager": diffs,
            "errors": errors,
            "forward_ms": {m: {str(b): v for b, v in per.items()}
                           for m, per in timings.items()},
            "forward_min_ms": {m: {str(b): v for b, v in per.items()}
                               for m, per in fastest.items()},
            "startup": startup,
        }
        print_table(result, args.batches)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")

    if not args.no_startup:
        report()  # the forward numbers survive a start-up run cut short by a time limit
        for _ in range(args.startup_rounds):
            cold = str(work / f"cold-cache-{len(startup.get('compile_cold', []))}")
            runs = [("eager", "eager", work / "weights.pt", "")]
            if "compile" in runners:
                runs += [("compile_cold", "compile", work / "weights.pt", cold),
                         ("compile_warm", "compile", work / "weights.pt", cold)]
            if package is not None:
                runs.append(("aoti", "aoti", package, ""))
            for label, mode, artifact, cache in runs:
                startup.setdefault(label, []).append(run_startup(args, mode, artifact, cache))

    report()
    return 0


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def _range(values: list[float], fmt: str = "{:.2f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else \
        f"{fmt.format(low)}-{fmt.format(high)}"


def print_table(result: dict[str, Any], batches: list[int]) -> None:
    print(f"\n{result['model']} on {result['device']} ({result['gpu'] or result['cpu']}), "
          f"{result['dtype']}, torch {result['torch']}, {result['threads']} thread(s), "
          f"{result['rounds']} round(s)")
    print("setup: " + ", ".join(f"{k} {v:.1f}" for k, v in result["setup_s"].items())
          + "; max |diff| vs eager: " + ", ".join(
              f"{m} {d:.2g}" for m, d in result["max_abs_diff_vs_eager"].items()))
    for mode, error in result["errors"].items():
        print(f"{mode}: FAILED, {error}")
    header = "".join(f"{'b' + str(b) + ' p50 ms':>16}{'b' + str(b) + ' min ms':>16}"
                     for b in batches)
    print(f"{'forward':<10}{header}{'eager/x @' + str(batches[-1]) + ' (min)':>18}")
    last = str(batches[-1])
    eager_last = min(result["forward_min_ms"]["eager"][last])
    for mode in result["forward_ms"]:
        cells = "".join(f"{_range(result['forward_ms'][mode][str(b)]):>16}"
                        f"{_range(result['forward_min_ms'][mode][str(b)]):>16}" for b in batches)
        ratio = eager_last / min(result["forward_min_ms"][mode][last])
        print(f"{mode:<10}{cells}{ratio:>17.2f}x")
    if result["startup"]:
        print(f"{'start-up':<16}{'load s':>10}{'first s':>10}{'total s':>10}")
        for label, runs in result["startup"].items():
            print(f"{label:<16}" + "".join(
                f"{_range([r[k] for r in runs]):>10}" for k in ("load_s", "first_s", "total_s")))


if __name__ == "__main__":
    sys.exit(main())
