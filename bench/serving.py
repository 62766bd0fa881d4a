"""Serving benchmark: the bundled servers against the tutorial's own servers, on its model.

    python bench/serving.py [--duration 3] [--rounds 3] [--concurrency 1 8 32]
                            [--instances 1 8] [--torch-threads 1 2] [--servers ...]

The model is examples/tutorial (the Vertex custom-container tutorial's size: Embedding
50 000 x 128, bidirectional LSTM 256, 7.2 M parameters), 64-token instances. Servers,
all side by side on loopback (all up before any is measured):

  tutorial    the tutorial's Flask app (bench/tutorial/app.py), gunicorn 1 worker 4 threads
  ts-stock    stock TorchServe with the tutorial's handler and config.properties
              (whose batch lines TorchServe ignores: batch size 1, a worker per core)
  ts-batched  stock TorchServe, same handler, batching registered correctly through the
              management API (batch_size 32, max_batch_delay 5 ms, a worker per core)
  flask / torchserve / tensorrt   the bundled containers (tensorrt on ONNX Runtime here)
  triton      the bundled Triton container: vxtriton front, the nvidia-pytriton wheel's
              tritonserver, Python backend, Triton's dynamic batcher (needs the `triton`
              extra or VXSERVE_TRITON_PYTRITON_DIR; skipped without it)

Load comes from `wrk` (a compiled load generator: Python client threads on the same
cores were the ceiling before), one server at a time, in rounds that interleave the
servers so drifts in the machine's background load hit all alike. For every torch thread
setting, concurrency (c) and instances per request it prints req/s, p50, p99, the ratio
to `tutorial` (and the torchserve container's to `ts-stock`/`ts-batched`), the servers'
own CPU time per request, and their memory (RSS of the whole process group) after
warm-up and the highest seen under load. Ranges are min-max over the rounds, with
the median after "~". After each run the next one waits until that server has stopped
using CPU (work wrk left queued; "busy after the load" when it took over a second), so
no server is measured beside another's backlog.

`--noise-floor` starts the baselines a second time (`tutorial-again`, `ts-stock-again`)
and measures them in the same rounds: their ratio to the first copy is what the
machine's noise alone makes of identical servers, the yardstick for every other ratio
(on the shared 2-core VM, c=1 ratios of identical servers spread by about +-20%).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "bench" / "tutorial"
CONTAINERS = REPO / "containers"
COMMON = CONTAINERS / "common"
EXAMPLE = REPO / "examples" / "tutorial"
ARTIFACTS = EXAMPLE / "artifacts"
OUT = REPO / ".bench"
SEQ_LEN = 64
VOCAB = 50_000
MODEL = "sentiment"
ALL = ["tutorial", "ts-stock", "ts-batched", "flask", "torchserve", "tensorrt", "triton"]
SETTLE_LIMIT_S = 60.0  # longest wait for a server to finish the work wrk left behind
AGAIN = "-again"  # a second copy of a baseline: the noise floor (--noise-floor)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- process-tree accounting (Linux /proc) --------------------------------------------
def _tree(root: int) -> list[tuple[int, float, int]]:
    """(pid, user+system CPU seconds, RSS bytes) of `root` and all its descendants.

    Descendants rather than the process group: the TorchServe container's JVM runs in a
    session of its own, and its Python workers are the JVM's children.
    """
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    stats: dict[int, tuple[int, float, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        stats[int(entry)] = (int(fields[1]), cpu, int(fields[21]) * page)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append((pid, stats[pid][1], stats[pid][2]))
        todo += children.get(pid, [])
    return found


def _group_stats(root: int) -> tuple[float, int]:
    """(user+system CPU seconds, RSS bytes) of the whole process tree under `root`."""
    tree = _tree(root)
    return sum(cpu for _, cpu, _ in tree), sum(rss for _, _, rss in tree)


def _is_python(pid: int) -> bool:
    """Whether the process runs a Python interpreter (gunicorn's and TorchServe's worker
    scripts do; the JVM does not), judged by its executable, not its changeable name."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name.startswith("python")
    except OSError:
        return True  # gone or not ours to read: count it where py-spy would have seen it


def _cpu_split(root: int) -> tuple[float, float]:
    """(CPU seconds of the whole tree, of those the tree's non-Python processes: TorchServe's
    JVM), from one scan of /proc.

    py-spy samples only Python, so `--profile` splits the Python processes' CPU over its
    stages and reports the rest on its own instead of spreading it over them.
    """
    tree = _tree(root)
    return (sum(cpu for _, cpu, _ in tree),
            sum(cpu for pid, cpu, _ in tree if not _is_python(pid)))


# -- servers ---------------------------------------------------------------------------
class Server:
    def __init__(self, name: str, proc: subprocess.Popen, port: int, path: str):
        self.name, self.proc, self.port, self.path = name, proc, port, path
        self.rss_warm = 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(30)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _env(threads: int, port: int, log_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_"))
           or k == "VXSERVE_TRITON_PYTRITON_DIR"}  # where the local tritonserver is
    env.update(
        {
            "AIP_HTTP_PORT": str(port),
            "VXSERVE_HTTP_HOST": "127.0.0.1",  # loopback only
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_PREDICT_ROUTE": "/predict",
            "AIP_STORAGE_URI": str(ARTIFACTS),
            "VXSERVE_TORCH_THREADS": str(threads),
            "BENCH_TORCH_THREADS": str(threads),
            "OMP_NUM_THREADS": str(threads),
            "VXSERVE_TRT_BACKEND": "onnxruntime",
            "VXSERVE_CACHE_DIR": str(log_dir / "cache"),
        }
    )
    return env


def _post(port: int, path: str, body: bytes, timeout: float = 5) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_serving(server: Server, body: bytes, timeout: float, log: Path) -> None:
    """Until a prediction answers 200 (health routes differ; a prediction does not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited {server.proc.returncode}; see {log}")
        try:
            if _post(server.port, server.path, body) == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} not serving after {timeout:.0f}s; see {log}")


def _torchserve_archive(work: Path) -> Path:
    """The tutorial's .mar: model.py + weights.pt + handler.py + index_to_name.json."""
    store = work / "model-store"
    mar = store / f"{MODEL}.mar"
    if mar.exists():
        return store
    store.mkdir(parents=True, exist_ok=True)
    archiver = Path(sys.executable).parent / "torch-model-archiver"
    subprocess.run(
        [str(archiver), "--model-name", MODEL, "--version", "1.0",
         "--model-file", str(ARTIFACTS / "model.py"),
         "--serialized-file", str(ARTIFACTS / "weights.pt"),
         "--handler", str(HERE / "handler.py"),
         "--extra-files", str(ARTIFACTS / "index_to_name.json"),
         "--export-path", str(store), "--force"],
        check=True,
    )
    return store


def _start_stock_torchserve(name: str, threads: int, log_dir: Path, batched: bool) -> Server:
    import ts

    work = log_dir / name
    shutil.rmtree(work, ignore_errors=True)
    (work / "tmp").mkdir(parents=True)
    store = _torchserve_archive(log_dir / "ts-archive")
    inference, management, metrics, grpc_i, grpc_m, worker = (free_port() for _ in range(6))
    lines = [
        f"inference_address=http://127.0.0.1:{inference}",
        f"management_address=http://127.0.0.1:{management}",
        f"metrics_address=http://127.0.0.1:{metrics}",
        f"grpc_inference_port={grpc_i}",
        f"grpc_management_port={grpc_m}",
        f"initial_worker_port={worker}",
        "disable_token_authorization=true",
        f"model_store={store}",
    ]
    if batched:  # no model at start; registered below with batching
        lines += ["enable_model_api=true"]
    else:
        lines += [x for x in (HERE / "config.properties").read_text().splitlines()
                  if x and not x.startswith("#")]
    (work / "config.properties").write_text("\n".join(lines) + "\n")
    home = Path(ts.__file__).resolve().parent.parent
    command = [
        shutil.which("java") or "java", f"-Dmodel_server_home={home}",
        f"-Djava.io.tmpdir={work / 'tmp'}",
        "-cp", f".:{home / 'ts' / 'frontend' / '*'}", "org.pytorch.serve.ModelServer",
        "--python", sys.executable, "-f", str(work / "config.properties"),
        "-s", str(store), "-ncs",
    ]
    log = log_dir / f"{name}.log"
    proc = subprocess.Popen(
        command, cwd=work, env=_env(threads, inference, log_dir),
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Server(name, proc, inference, f"/predictions/{MODEL}")
    if batched:
        workers = max(1, (os.cpu_count() or 1) // max(1, threads))
        query = (f"url={MODEL}.mar&batch_size=32&max_batch_delay=5&initial_workers={workers}"
                 "&synchronous=true")
        deadline = time.monotonic() + 120
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{management}/models?{query}", method="POST")
                urllib.request.urlopen(request, timeout=120).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    server.stop()
                    raise RuntimeError(f"{name}: model registration failed; see {log}") from None
                time.sleep(0.5)
    return server


def start_server(name: str, threads: int, log_dir: Path, extra_env: dict[str, str],
                 probe: bytes, variants: dict[str, tuple[str, dict[str, str]]]) -> Server | None:
    label, name = name, name.removesuffix(AGAIN)  # the same server again, on its own
    container = name
    if name in variants:  # a bundled container again, under its own name, with more env
        container, more = variants[name]
        extra_env = {**extra_env, **more}
    if name in ("ts-stock", "ts-batched"):
        server = _start_stock_torchserve(label, threads, log_dir, name == "ts-batched")
        _wait_serving(server, probe, 180, log_dir / f"{label}.log")
        return server
    port = free_port()
    env = _env(threads, port, log_dir)
    if name == "tutorial":
        command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4",
                   "--worker-class", "gthread", "--no-control-socket",
                   "--bind", f"127.0.0.1:{port}", "app:app"]
        cwd, timeout = HERE, 120.0
    else:
        folder = CONTAINERS / container  # a path elsewhere stays that path
        common = folder.parent / "common"
        manifest = folder / "container.toml"
        if not manifest.exists():
            return None
        spec = tomllib.loads(manifest.read_text())
        values = {"python": sys.executable, "container": str(folder), "common": str(common)}
        command = [part.format(**values) for part in spec["process"]["command"]]
        cwd, timeout = folder, float(spec["process"].get("ready_timeout_s", 120))
        env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(common)])
        env.update(extra_env)
    log = log_dir / f"{label}.log"
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(label, proc, port, "/predict")
    _wait_serving(server, probe, timeout, log)
    return server


# -- load --------------------------------------------------------------------------------
def bodies_file(instances: int, folder: Path, n: int = 64) -> Path:
    """n different request bodies of `instances` x 64 token ids, one per line."""
    rng = random.Random(42 + instances)
    path = folder / f"bodies-{instances}.jsonl"
    lines = [
        json.dumps({"instances": [[rng.randrange(1, VOCAB) for _ in range(SEQ_LEN)]
                                  for _ in range(instances)]})
        for _ in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _batches(server: Server) -> tuple[float, float]:
    """(instances, forward passes) so far, from vxserve's /metrics; (0, 0) where none."""
    if server.path != "/predict":
        return 0.0, 0.0
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    except OSError:
        return 0.0, 0.0
    values = dict(line.split(" ", 1) for line in text.splitlines()
                  if line.startswith(("vxserve_batch_size_sum ", "vxserve_batch_size_count ")))
    return (float(values.get("vxserve_batch_size_sum", 0)),
            float(values.get("vxserve_batch_size_count", 0)))


def wait_quiet(root: int, limit_s: float = SETTLE_LIMIT_S, tick_s: float = 0.2) -> float:
    """Wait until `root`'s process tree stops using CPU; return the seconds that took.

    A server may go on working after wrk stops: stock TorchServe with two 2-thread workers on
    two cores took ~1 s per request and kept a queue of requests wrk had given up on, and
    every server measured next ran beside that backlog (0-95 req/s instead of ~600). So
    the next run starts only once this one's server is idle (under 10% of a core over two
    ticks), and the CPU it spent meanwhile counts towards its own load.
    """
    started = time.monotonic()
    last = _group_stats(root)[0]
    quiet_ticks = 0
    while quiet_ticks < 2 and time.monotonic() - started < limit_s:
        time.sleep(tick_s)
        now = _group_stats(root)[0]
        quiet_ticks = quiet_ticks + 1 if now - last < 0.1 * tick_s else 0
        last = now
    return time.monotonic() - started


def run_wrk(server: Server, bodies: Path, concurrency: int, duration: float) -> dict:
    """One wrk run; adds the server group's CPU seconds and its highest RSS meanwhile."""
    peak = [0]
    batches_before = _batches(server)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            peak[0] = max(peak[0], _group_stats(server.proc.pid)[1])

    sampler = threading.Thread(target=sample, daemon=True)
    cpu_before, other_before = _cpu_split(server.proc.pid)
    sampler.start()
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, round(duration))}s",
         "--timeout", "30s", "-s", str(HERE / "wrk.lua"),
         f"http://127.0.0.1:{server.port}", "--", str(bodies), server.path],
        capture_output=True, text=True, check=True,
    )
    stop.set()
    sampler.join()
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    result = json.loads(line.removeprefix("BENCH_JSON "))
    result["settle_s"] = wait_quiet(server.proc.pid)
    cpu_after, other_after = _cpu_split(server.proc.pid)
    result["cpu_s"] = cpu_after - cpu_before
    result["cpu_outside_python_s"] = other_after - other_before
    batches_after = _batches(server)
    result["batched"] = [a - b for a, b in zip(batches_after, batches_before, strict=True)]
    result["rss_peak"] = peak[0]
    errors = sum(v for k, v in result.items() if k.startswith("errors_"))
    result["ok"] = result["requests"] - result["errors_status"]
    result["rps"] = result["ok"] / (result["duration_us"] / 1e6)
    result["errors"] = errors
    return result


def measure(servers: dict[str, Server], args: argparse.Namespace, folder: Path,
            threads: int) -> list[dict]:
    rows = []
    for instances in args.instances:
        bodies = bodies_file(instances, folder)
        for c in args.concurrency:
            runs: dict[str, list[dict]] = {name: [] for name in servers}
            for s in servers.values():  # warm-up at this load, not counted
                run_wrk(s, bodies, c, min(1.0, args.duration))
            for _ in range(args.rounds):
                for name, s in servers.items():
                    runs[name].append(run_wrk(s, bodies, c, args.duration))
            for name, rs in runs.items():
                row = {
                    "server": name, "torch_threads": threads, "instances": instances,
                    "concurrency": c,
                    "rps": [r["rps"] for r in rs],
                    "p50_ms": [r["p50_us"] / 1000 for r in rs],
                    "p99_ms": [r["p99_us"] / 1000 for r in rs],
                    "cpu_ms_per_request": sum(r["cpu_s"] for r in rs) * 1000
                    / max(1, sum(r["ok"] for r in rs)),
                    "errors": sum(r["errors"] for r in rs),
                    "mean_batch": sum(r["batched"][0] for r in rs)
                    / max(1.0, sum(r["batched"][1] for r in rs)),
                    "rss_warm_mb": servers[name].rss_warm / 2**20,
                    "rss_load_mb": max(r["rss_peak"] for r in rs) / 2**20,
                    "settle_s": [r["settle_s"] for r in rs],
                }
                rows.append(row)
                print(f"  t={threads} i={instances} c={c:<3} {name:<14} "
                      f"{_range(row['rps'], '.0f')} req/s  p99 {_range(row['p99_ms'], '.1f')} ms"
                      f"  cpu {row['cpu_ms_per_request']:.2f} ms/req"
                      + (f"  batch {row['mean_batch']:.1f}" if row["mean_batch"] else "")
                      + (f"  errors {row['errors']}" if row["errors"] else "")
                      + (f"  busy after the load {_range(row['settle_s'], '.1f')} s"
                         if max(row["settle_s"]) > 1.0 else ""), flush=True)
    return rows


def profile(servers: dict[str, Server], args: argparse.Namespace, folder: Path,
            threads: int) -> list[dict]:
    """py-spy each Python server under wrk (--profile-concurrency, --profile-instances per
    request) and split its CPU by stage."""
    from profile_stages import STAGES, stages

    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("profile skipped: py-spy is not installed (pip install py-spy)", flush=True)
        return []
    rows = []
    bodies = bodies_file(args.profile_instances, folder)
    for name, server in servers.items():
        if name.startswith("ts-"):
            continue  # stock TorchServe: its JVM is not Python; nothing to compare stage by stage
        raw = folder / f"profile-{name}-t{threads}.txt"
        recorder = subprocess.Popen(
            [str(spy), "record", "--pid", str(server.proc.pid), "--subprocesses",
             "--nonblocking", "--rate", "200", "--format", "raw", "--output", str(raw),
             "--duration", str(args.duration + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        run = run_wrk(server, bodies, args.profile_concurrency, args.duration)
        recorder.wait(60)
        if not raw.exists():
            print(f"profile of {name} failed (py-spy needs ptrace permission)", flush=True)
            continue
        shares = stages(raw, REPO)
        requests = max(1, run["ok"])
        cpu = run["cpu_s"] * 1000 / requests
        outside = run["cpu_outside_python_s"] * 1000 / requests
        row = {"server": name, "torch_threads": threads, "instances": args.profile_instances,
               "cpu_ms_per_request": cpu, "outside_python_ms": outside,
               "stages_ms": {k: shares[k] * (cpu - outside) for k in STAGES},
               "batching_wait_share": shares["batching wait"]}
        rows.append(row)
        print(f"  profile t={threads} {name:<11} {cpu:5.2f} ms/req: " + ", ".join(
            f"{k} {v:.2f}" for k, v in row["stages_ms"].items())
            + (f", outside Python (JVM) {outside:.2f}" if outside else "")
            + f"; {100 * shares['batching wait']:.0f}% of thread samples wait for a batch",
            flush=True)
    return rows


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}-{hi:{fmt}}"


def _spread(values: list[float]) -> str:
    """min-max ~median: with a handful of noisy rounds the range alone hides where most lie."""
    if len(values) < 3:
        return _range(values, ".2f")
    return f"{_range(values, '.2f')} ~{statistics.median(values):.2f}"


def report(rows: list[dict]) -> None:
    by = {(r["server"], r["torch_threads"], r["instances"], r["concurrency"]): r for r in rows}
    print()
    print(f"{'server':<14} {'thr':>3} {'inst':>4} {'c':>3} {'req/s':>11} {'p99 ms':>11} "
          f"{'x tutorial':>16} {'p99/tut':>9} {'x ts-stock':>16} {'x ts-batch':>11} "
          f"{'cpu ms/req':>10} {'batch':>5} {'RSS warm/load MB':>17}")
    for r in rows:
        key = (r["torch_threads"], r["instances"], r["concurrency"])

        def ratio(base: str, field: str = "rps", r: dict = r, key: tuple = key) -> str:
            b = by.get((base, *key))
            if b is None or r["server"] == base:
                return "-"
            values = [x / y for x, y in zip(r[field], b[field], strict=True) if y]
            if not values:
                return "-"
            return _spread(values) if field == "rps" else _range(values, ".2f")

        print(f"{r['server']:<14} {r['torch_threads']:>3} {r['instances']:>4} "
              f"{r['concurrency']:>3} {_range(r['rps'], '.0f'):>11} "
              f"{_range(r['p99_ms'], '.1f'):>11} {ratio('tutorial'):>16} "
              f"{ratio('tutorial', 'p99_ms'):>9} {ratio('ts-stock'):>16} "
              f"{ratio('ts-batched'):>11} {r['cpu_ms_per_request']:>10.2f} "
              f"{(format(r['mean_batch'], '.1f') if r['mean_batch'] else '-'):>5} "
              f"{r['rss_warm_mb']:>8.0f}/{r['rss_load_mb']:<8.0f}")


def _variants(specs: list[str]) -> dict[str, tuple[str, dict[str, str]]]:
    """--variant NAME=CONTAINER:KEY=VALUE,... -> {NAME: (CONTAINER, {KEY: VALUE})}.

    CONTAINER is a bundled container's name, or the path of a container folder in another
    checkout (its own command, runtime and PYTHONPATH: before/after a change in one run).
    """
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        container, _, pairs = rest.partition(":")
        env = dict(p.split("=", 1) for p in pairs.split(",") if "=" in p)
        if not name or name in ALL or not (CONTAINERS / container / "container.toml").exists():
            raise ValueError(f"--variant {spec!r}: want NEW_NAME=CONTAINER:KEY=VALUE[,KEY=VALUE]"
                             " with CONTAINER one of flask, torchserve, tensorrt, or the path"
                             " of a container folder in another checkout")
        out[name] = (container, env)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per load")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--torch-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--servers", nargs="+", default=ALL, choices=ALL)
    parser.add_argument("--profile", action="store_true",
                        help="also py-spy each Python server and print CPU per stage")
    parser.add_argument("--profile-instances", type=int, default=1, metavar="N",
                        help="instances per request in the --profile run (at c=32)")
    parser.add_argument("--profile-concurrency", type=int, default=32, metavar="C",
                        help="concurrent requests in the --profile run")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the bundled containers")
    parser.add_argument("--variant", action="append", default=[],
                        metavar="NAME=CONTAINER:KEY=VALUE[,KEY=VALUE]",
                        help="also serve a bundled container under NAME with more environment, "
                        "measured in the same interleaved rounds (e.g. "
                        "flask-w1=flask:VXSERVE_MODEL_WORKERS=1)")
    parser.add_argument("--noise-floor", action="store_true",
                        help="also measure a second copy of each baseline (tutorial-again, "
                        "ts-stock-again): what noise alone makes of identical servers")
    args = parser.parse_args(argv)
    try:
        variants = _variants(args.variant)
    except ValueError as exc:
        parser.error(str(exc))
    args.servers = [*args.servers, *(v for v in variants if v not in args.servers)]
    if args.noise_floor:
        args.servers += [b + AGAIN for b in ("tutorial", "ts-stock") if b in args.servers]
    # SIGTERM (timeout, kill) must still stop the servers: run the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        print("bench/serving.py needs wrk (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    subprocess.run([sys.executable, str(EXAMPLE / "make_model.py")], check=True)
    extra_env = dict(item.split("=", 1) for item in args.env)
    log_dir = OUT / "serving-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    probe = json.dumps({"instances": [[1] * SEQ_LEN]}).encode()
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
          f"{platform.python_version()}; model examples/tutorial, {SEQ_LEN}-token instances; "
          f"{args.rounds} interleaved rounds of {args.duration:g}s per load", flush=True)
    rows: list[dict] = []
    profiles: list[dict] = []
    sys.path.insert(0, str(REPO / "bench"))
    for threads in args.torch_threads:
        servers: dict[str, Server] = {}
        try:
            for name in args.servers:
                try:
                    started = start_server(name, threads, log_dir, extra_env, probe,
                                           variants)
                except (RuntimeError, subprocess.CalledProcessError) as exc:
                    print(f"{name}: skipped ({exc})", flush=True)
                    continue
                if started is None:
                    print(f"{name}: skipped (no containers/{name}/container.toml)")
                    continue
                servers[name] = started
            for s in servers.values():
                run_wrk(s, bodies_file(1, log_dir), 8, 1.0)  # warm-up
                s.rss_warm = _group_stats(s.proc.pid)[1]
            rows += measure(servers, args, log_dir, threads)
            if args.profile:
                profiles += profile(servers, args, log_dir, threads)
        finally:
            for s in servers.values():
                s.stop()
    report(rows)
    if profiles:
        from profile_stages import STAGES

        print(f"\nCPU ms per request by stage (py-spy, c={args.profile_concurrency}, "
              f"{args.profile_instances} instance(s) per request; "
              f"see bench/profile_stages.py; the stages split the Python processes' CPU, "
              f"'no python' is the rest, TorchServe's JVM)\n{'server':<11} {'thr':>3} "
              f"{'total':>6} " + " ".join(f"{k:>13}" for k in STAGES)
              + f" {'no python':>9}  batch wait")
        for p in profiles:
            print(f"{p['server']:<11} {p['torch_threads']:>3} {p['cpu_ms_per_request']:>6.2f} "
                  + " ".join(f"{p['stages_ms'][k]:>13.2f}" for k in STAGES)
                  + f" {p['outside_python_ms']:>9.2f}"
                  + f"  {100 * p['batching_wait_share']:>9.0f}%")
    (OUT / "serving.json").write_text(json.dumps({"rows": rows, "profiles": profiles},
                                                 indent=1))
    print("\nRanges are min-max over interleaved rounds (ratios paired round by round)."
          "\ncpu ms/req and RSS count each server's process tree (front, JVM and workers"
          "\nfor TorchServe); batch is the mean instances per forward pass from the"
          "\nserver's own /metrics (vxserve-based servers only); CPU spent after wrk"
          "\nstopped, finishing queued work, counts towards the load it came from."
          "\nAbsolute numbers depend on what else runs; compare ratios.")
    print(f"raw results: {OUT / 'serving.json'}; server logs: {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
