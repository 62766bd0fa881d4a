"""`vxdeploy plan` on an unchanged local profile: wall time, and API calls as versions grow.

Starts a private emulator daemon, deploys the example model with `profiles/local.toml`,
then times `vxdeploy plan` (a fresh process each time, as a person or CI runs it) and counts
the API calls it makes, once with one model version and again after many more versions
were uploaded. Targets: under 2 s, and the same number of calls whatever the versions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def vx(*args: str, env: dict[str, str]) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vxdeploy", *args, "-o", "json"],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 2):
        raise SystemExit(f"vxdeploy {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}")
    return elapsed, json.loads(proc.stdout)


def add_versions(rest_url: str, count: int) -> None:
    """Upload `count` more versions of the deployed model, straight through the API."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1 as aip

    client = aip.ModelServiceClient(credentials=AnonymousCredentials(), transport="rest",
                                    client_options={"api_endpoint": rest_url})
    parent = "projects/local-project/locations/us-central1"
    base = client.get_model(name=f"{parent}/models/sentiment")
    for index in range(count):
        model = aip.Model(display_name=base.display_name, container_spec=base.container_spec,
                          labels={**base.labels, "vxdeploy-fingerprint": f"bench{index}"})
        client.upload_model(request={"parent": parent, "parent_model": base.name,
                                     "model": model}).result()


def measure(env: dict[str, str], repeat: int) -> tuple[list[float], int]:
    times, calls = [], set()
    for _ in range(repeat):
        elapsed, plan = vx("plan", "--profile", "local", env=env)
        assert plan["changes"] == [], plan["changes"]
        times.append(elapsed)
        calls.add(plan["api_calls"])
    if len(calls) != 1:
        raise SystemExit(f"plan made a varying number of calls: {sorted(calls)}")
    return times, calls.pop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--versions", type=int, default=50, help="extra versions to upload")
    args = parser.parse_args()
    from vxdeploy.emulator.control import ensure_running, stop

    with tempfile.TemporaryDirectory(prefix="vx-bench-plan-") as state:
        env = {**os.environ, "VXDEPLOY_EMULATOR_STATE_DIR": state,
               "NO_PROXY": "127.0.0.1,localhost"}
        env.pop("VXDEPLOY_OUTPUT", None)
        os.environ["VXDEPLOY_EMULATOR_STATE_DIR"] = state
        info = ensure_running(Path(state))
        try:
            deploy_s, _ = vx("deploy", "--profile", "local", "--yes", env=env)
            print(f"initial deploy (emulator start + model server): {deploy_s:.1f} s")
            rows = []
            few_times, few_calls = measure(env, args.repeat)
            rows.append(("1 version", few_times, few_calls))
            add_versions(info.rest_url, args.versions)
            many_times, many_calls = measure(env, args.repeat)
            rows.append((f"{args.versions + 1} versions", many_times, many_calls))
        finally:
            stop(Path(state))
    print(f"\n{'model versions':16} {'median s':>9} {'min s':>7} {'API calls':>10}")
    for label, times, calls in rows:
        print(f"{label:16} {statistics.median(times):9.2f} {min(times):7.2f} {calls:10d}")
    median = statistics.median(few_times)
    print(f"\nplan on an unchanged profile: {median:.2f} s (target < 2 s): "
          f"{'PASS' if median < 2 else 'MISS'}")
    print(f"API calls independent of versions ({few_calls} vs {many_calls}): "
          f"{'PASS' if few_calls == many_calls else 'MISS'}")


if __name__ == "__main__":
    main()
