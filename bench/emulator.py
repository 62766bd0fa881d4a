"""Predict latency through the local emulator against a direct call to the same model server,
and the time `vxdeploy local up` takes to a ready daemon.

Both paths use one keep-alive HTTP connection and the same body, interleaved request by
request so machine noise hits both alike; the difference of the medians is the emulator's
routing overhead (target: under 2 ms). Uses the bundled flask server with the example
sentiment model (`make example` builds it), or `--model echo` for a stdlib test server.

    .venv/bin/python bench/emulator.py [--requests 500] [--model flask|echo]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARENT = "projects/bench/locations/us-central1"


def _cli(state: Path, *args: str) -> str:
    # The echo model is a test server named by label; its manifest is found here.
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state),
               VXDEPLOY_EMULATOR_SERVERS_PATH=str(REPO / "tests/emulator/servers"))
    return subprocess.run(
        [sys.executable, "-c", "from vxdeploy.cli import main; main()", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def _connection(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _post(conn: http.client.HTTPConnection, path: str, body: bytes) -> float:
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    # Same client treatment on both paths: ACK at once, so a server that writes headers
    # and body separately with Nagle on does not add ~40 ms delayed-ACK stalls to either.
    conn.sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_QUICKACK", 12), 1)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"POST {path}: HTTP {response.status}")
    return elapsed


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _model(types, kind: str):
    if kind == "echo":
        return types.Model(
            display_name="echo",
            labels={"vxdeploy-container": "echo"},
            container_spec=types.ModelContainerSpec(
                image_uri="bench/echo",
                health_route="/health",
                predict_route="/predict",
            ),
        )
    artifacts = REPO / "examples/sentiment/artifacts/torchscript"
    if not artifacts.is_dir():
        raise SystemExit(f"{artifacts} is missing: run `make example` first")
    return types.Model(
        display_name="sentiment",
        artifact_uri=str(artifacts),
        labels={"vxdeploy-container": "flask"},
        container_spec=types.ModelContainerSpec(image_uri="bench/flask"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--model", choices=("flask", "echo"), default="flask")
    parser.add_argument("--nagle", action="store_true",
                        help="echo only: keep Nagle's algorithm on in the model server")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="vxdeploy-bench-")) / "emulator"
    started = time.perf_counter()
    info = json.loads(_cli(state, "local", "up", "-o", "json"))
    up_s = time.perf_counter() - started
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform_v1 as v1

        kwargs = {
            "client_options": {"api_endpoint": info["rest_url"]},
            "credentials": AnonymousCredentials(),
            "transport": "rest",
        }
        endpoints, models = v1.EndpointServiceClient(**kwargs), v1.ModelServiceClient(**kwargs)
        spec = _model(v1, args.model)
        if args.nagle:
            spec.container_spec.env = [v1.EnvVar(name="ECHO_NAGLE", value="1")]
        model = models.upload_model(parent=PARENT, model=spec).result(60)
        endpoint = endpoints.create_endpoint(
            parent=PARENT, endpoint=v1.Endpoint(display_name="bench")
        ).result(60)
        deployed = (
            endpoints.deploy_model(
                endpoint=endpoint.name,
                traffic_split={"0": 100},
                deployed_model=v1.DeployedModel(
                    model=model.model,
                    dedicated_resources=(
                        v1.DedicatedResources(
                            machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
                            min_replica_count=1,
                            max_replica_count=1,
                        )
                    ),
                ),
            )
            .result(300)
            .deployed_model
        )
        status = json.loads(_cli(state, "local", "status", "-o", "json"))
        server = next(s for s in status["servers"] if s["deployed_model_id"] == deployed.id)
        direct_url = server["replicas"][0]["base_url"]
        predict_route = (
            (
                f"/v1/endpoints/{endpoint.name.rsplit('/', 1)[1]}/deployedModels/"
                f"{deployed.id}:predict"
            )
            if args.model == "flask"
            else "/predict"
        )

        instances = json.loads((REPO / "examples/sentiment/instances.json").read_text())
        body = json.dumps({"instances": instances["instances"][:1]}).encode()
        via, direct = _connection(info["rest_url"]), _connection(direct_url)
        via_path = f"/v1/{endpoint.name}:predict"
        for _ in range(args.warmup):
            _post(via, via_path, body)
            _post(direct, predict_route, body)
        samples: dict[str, list[float]] = {"direct": [], "emulator": []}
        for _ in range(args.requests):
            samples["emulator"].append(_post(via, via_path, body))
            samples["direct"].append(_post(direct, predict_route, body))
    finally:
        _cli(state, "local", "down")

    print(
        f"model server: {args.model}; {args.requests} requests each, interleaved, "
        "one keep-alive connection per path"
    )
    print(f"{'path':10} {'median ms':>10} {'p99 ms':>8}")
    for name, values in samples.items():
        print(f"{name:10} {statistics.median(values):10.3f} {_percentile(values, 0.99):8.3f}")
    overhead = statistics.median(samples["emulator"]) - statistics.median(samples["direct"])
    paired = statistics.median(
        e - d for e, d in zip(samples["emulator"], samples["direct"], strict=True)
    )
    print(
        f"routing overhead: {overhead:.3f} ms (difference of medians), "
        f"{paired:.3f} ms (median of paired differences); target < 2 ms"
    )
    print(f"vxdeploy local up -> ready: {up_s:.2f} s (daemon reported {info['ready_s']:.2f} s)")


if __name__ == "__main__":
    main()
