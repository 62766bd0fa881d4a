"""Serving benchmark: the bundled servers against the tutorial-style naive Flask server.

    python bench/serving.py [--requests 600] [--concurrency 1 8 32] [--torch-threads 1]

Starts, side by side on loopback, a naive
baseline (Flask on gunicorn, 1 worker, 4 threads, one forward pass per request — the way
the Vertex custom-container tutorials do it), the flask container, and the torchserve
and tensorrt (ONNX Runtime) containers when their folders have a container.toml. All
serve examples/sentiment with 64-token instances, one instance per request. A separate
load-generator process drives one server at a time at every concurrency with keep-alive
connections, in rounds that alternate between the servers, and prints throughput, p50,
p99, the ratio to the baseline and the servers' own CPU time per request (the number
that stays meaningful on a busy, shared machine).

Torch intra-op threads are pinned to --torch-threads for the baseline and for the
containers alike (VXSERVE_TORCH_THREADS / torch.set_num_threads): on a small machine
more threads than cores only adds contention with the HTTP threads and the load generator.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTAINERS = REPO / "containers"
COMMON = CONTAINERS / "common"
EXAMPLE = REPO / "examples" / "sentiment"
ARTIFACTS = EXAMPLE / "artifacts" / "torchscript"
OUT = REPO / ".bench"


# -- the naive baseline: what the tutorials deploy -------------------------------------
def naive_app():  # pragma: no cover - runs inside the baseline's gunicorn worker
    """Flask app that loads the TorchScript model at import and runs one forward per request."""
    import torch
    from flask import Flask, jsonify, request

    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
    folder = Path(os.environ["AIP_STORAGE_URI"])
    model = torch.jit.load(str(folder / "model.pt")).eval()
    labels = json.loads((folder / "index_to_name.json").read_text())
    app = Flask("naive")

    @app.get("/health")
    def health():
        return "ok"

    @app.post("/predict")
    def predict():
        instances = request.get_json()["instances"]
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor(instances)), dim=1)
        out = []
        for row in probs.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            out.append(
                {
                    "label": labels[str(best)],
                    "confidence": row[best],
                    "probabilities": {labels[str(i)]: p for i, p in enumerate(row)},
                }
            )
        return jsonify(predictions=out)

    return app


# -- servers ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(name: str) -> tuple[list[str], Path, float] | None:
    """(command, cwd, ready timeout) for a server, or None when its folder is not ready."""
    if name == "naive":
        return (
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "1",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--no-control-socket",
                "serving:naive_app()",
            ],
            REPO / "bench",
            120.0,
        )
    folder = CONTAINERS / name
    manifest = folder / "container.toml"
    if not manifest.exists():
        return None
    spec = tomllib.loads(manifest.read_text())
    values = {"python": sys.executable, "container": str(folder), "common": str(COMMON)}
    command = [part.format(**values) for part in spec["process"]["command"]]
    return command, folder, float(spec["process"].get("ready_timeout_s", 120))


def start_server(name: str, torch_threads: int, log_dir: Path, extra_env: dict[str, str]):
    found = server_command(name)
    if found is None:
        return None
    command, cwd, ready_timeout = found
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(cwd), str(COMMON)]),
            "AIP_HTTP_PORT": str(port),
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_PREDICT_ROUTE": "/predict",
            "AIP_STORAGE_URI": str(ARTIFACTS),
            "VXSERVE_TORCH_THREADS": str(torch_threads),
            "BENCH_TORCH_THREADS": str(torch_threads),
            "VXSERVE_TRT_BACKEND": "onnxruntime",
            "VXSERVE_CACHE_DIR": str(log_dir / "cache"),
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}" if name == "naive" else "",
            "OMP_NUM_THREADS": str(torch_threads),
        }
    )
    env.update(extra_env)
    log = (log_dir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited {proc.returncode}; see {log_dir / (name + '.log')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
            conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"{name} not ready after {ready_timeout:.0f}s; see its log in {log_dir}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# -- the load generator (its own process) ----------------------------------------------
def _drive(port: int, bodies: list[bytes], concurrency: int, total: int, queue) -> None:
    """Send `total` requests with `concurrency` keep-alive connections; report latencies."""
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    failures: dict[int, int] = {}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        while True:
            with lock:
                i = next_index[0]
                if i >= total:
                    break
                next_index[0] += 1
            body = bodies[i % len(bodies)]
            started = time.perf_counter()
            try:
                conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            elapsed = time.perf_counter() - started
            if status == 200:
                mine.append(elapsed)
            else:
                with lock:
                    failures[status] = failures.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    queue.put({"wall": wall, "latencies": latencies, "failures": failures})


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU of every live process in the server's process group (Linux /proc).

    CPU per request is the number that survives a noisy, shared machine: wall-clock
    throughput depends on what else runs, the work the server does per request does not.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5 of stat: process group
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def run_load(port: int, bodies: list[bytes], concurrency: int, total: int, pgid: int) -> dict:
    """One burst of `total` requests from a fresh load-generator process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_drive, args=(port, bodies, concurrency, total, queue))
    proc.start()
    cpu_before = group_cpu_seconds(pgid)
    run = queue.get(timeout=900)
    run["cpu"] = group_cpu_seconds(pgid) - cpu_before
    proc.join(60)
    return run


def summarize(concurrency: int, runs: list[dict]) -> dict:
    lat = sorted(x for r in runs for x in r["latencies"])
    ok = len(lat)
    wall = sum(r["wall"] for r in runs)
    cpu = sum(r["cpu"] for r in runs)
    failures: dict[int, int] = {}
    for r in runs:
        for code, n in r["failures"].items():
            failures[code] = failures.get(code, 0) + n
    nan = float("nan")
    return {
        "concurrency": concurrency,
        "ok": ok,
        "failures": failures,
        "throughput": ok / wall if wall > 0 else 0.0,
        "p50_ms": 1000 * lat[ok // 2] if ok else nan,
        "p99_ms": 1000 * lat[min(ok - 1, int(ok * 0.99))] if ok else nan,
        "mean_ms": 1000 * statistics.fmean(lat) if ok else nan,
        "server_cpu_ms_per_request": 1000 * cpu / ok if ok else nan,
    }


def request_bodies(n: int = 64) -> list[bytes]:
    """n different single-instance bodies of 64 token ids (deterministic)."""
    import random

    rng = random.Random(42)
    return [
        json.dumps({"instances": [[rng.randrange(1, 20000) for _ in range(64)]]}).encode()
        for _ in range(n)
    ]


def drive_all(
    running: dict[str, tuple[subprocess.Popen, int]], bodies: list[bytes], args: argparse.Namespace
) -> dict[str, list[dict]]:
    """Every concurrency level, in rounds that alternate between the servers.

    Only one server is driven at a time (they never share the CPU under load), and the
    rounds interleave them so slow drifts in the machine's background load hit all alike.
    """
    results: dict[str, list[dict]] = {name: [] for name in running}
    per_round = max(1, args.requests // args.rounds)
    for c in args.concurrency:
        runs: dict[str, list[dict]] = {name: [] for name in running}
        for proc, port in running.values():
            run_load(port, bodies, c, args.warmup, proc.pid)  # warm-up, not counted
        for _ in range(args.rounds):
            for name, (proc, port) in running.items():
                runs[name].append(run_load(port, bodies, c, per_round, proc.pid))
        for name in running:
            row = summarize(c, runs[name])
            results[name].append(row)
            print(
                f"  {name:<11} c={c:<3} {row['throughput']:8.1f} req/s  "
                f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
                f"server CPU {row['server_cpu_ms_per_request']:5.2f} ms/req"
                + (f"  failures {row['failures']}" if row["failures"] else ""),
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="per server and concurrency")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument(
        "--servers", nargs="+", default=["naive", "flask", "torchserve", "tensorrt"]
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the bundled servers (e.g. VXSERVE_BATCH_DELAY_MS=2)",
    )
    args = parser.parse_args(argv)
    if not (ARTIFACTS / "model.pt").exists():
        subprocess.run([sys.executable, str(EXAMPLE / "make_model.py")], check=True)
    extra_env = dict(item.split("=", 1) for item in args.env)
    OUT.mkdir(exist_ok=True)
    log_dir = OUT / "serving-logs"
    log_dir.mkdir(exist_ok=True)
    bodies = request_bodies()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}; "
        f"torch intra-op threads {args.torch_threads} in every server; "
        f"{args.requests} requests of 1 x 64 tokens per level",
        flush=True,
    )

    running: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name in args.servers:  # side by side: all up before any is measured
            try:
                started = start_server(
                    name, args.torch_threads, log_dir, extra_env if name != "naive" else {}
                )
            except RuntimeError as exc:
                print(f"{name}: skipped ({exc})", flush=True)
                continue
            if started is None:
                print(f"{name}: skipped (containers/{name}/container.toml not there yet)")
                continue
            running[name] = started
        results = drive_all(running, bodies, args)
    finally:
        for proc, _ in running.values():
            stop_server(proc)

    print()
    print(
        f"{'server':<11} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'x naive':>8} {'p99/naive':>9} {'cpu ms/req':>10}"
    )
    base = {r["concurrency"]: r for r in results.get("naive", [])}
    for name, rows in results.items():
        for r in rows:
            b = base.get(r["concurrency"])
            ratio = r["throughput"] / b["throughput"] if b and b["throughput"] else float("nan")
            p99 = r["p99_ms"] / b["p99_ms"] if b and b["p99_ms"] else float("nan")
            print(
                f"{name:<11} {r['concurrency']:>4} {r['throughput']:>9.1f} {r['p50_ms']:>8.2f} "
                f"{r['p99_ms']:>8.2f} {ratio:>8.2f} {p99:>9.2f} "
                f"{r['server_cpu_ms_per_request']:>10.2f}"
            )
    (OUT / "serving.json").write_text(
        json.dumps(
            {"torch_threads": args.torch_threads, "requests": args.requests, "results": results},
            indent=1,
        )
    )
    print(
        "\ncpu ms/req counts the server's process group only: a server whose processes leave"
        "\nit (TorchServe's frontend JVM daemonizes) is undercounted there."
    )
    print(f"raw results: {OUT / 'serving.json'}; server logs: {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
