"""How fast `vxdeploy --help` starts, against importing the Vertex SDK, measured side by side.

Runs each command alternately (so machine noise hits both alike), repeats, and prints the
medians and their ratio. Target: `vxdeploy --help` at least 10x faster.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "vxdeploy --help": [sys.executable, "-m", "vxdeploy", "--help"],
    "vxdeploy profiles validate": [sys.executable, "-m", "vxdeploy", "profiles", "validate"],
    "import google.cloud.aiplatform": [sys.executable, "-c", "import google.cloud.aiplatform"],
}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the OS file cache once
        wall(command)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            samples[name].append(wall(command))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    sdk = medians["import google.cloud.aiplatform"]
    print(f"{'command':34} {'median ms':>10} {'min ms':>8} {'vs SDK import':>14}")
    for name, values in samples.items():
        print(f"{name:34} {medians[name] * 1000:10.0f} {min(values) * 1000:8.0f} "
              f"{sdk / medians[name]:13.1f}x")
    ratio = sdk / medians["vxdeploy --help"]
    print(f"\nvxdeploy --help is {ratio:.1f}x faster than importing google.cloud.aiplatform "
          f"(target >= 10x): {'PASS' if ratio >= 10 else 'MISS'}")


if __name__ == "__main__":
    main()
