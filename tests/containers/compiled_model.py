"""A tiny token classifier for the compiled-PyTorch tests: compiles in seconds, not minutes.

Same interface as examples/sentiment (int64 token ids -> 3 logits, classification handler)
so every server serves it the same way; small so AOTInductor and torch.compile finish
quickly on the 2-core test machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"

CODE = '''
import torch
from torch import nn


class TinyClassifier(nn.Module):
    def __init__(self, vocab: int = 64, dim: int = 16):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.head = nn.Sequential(nn.Linear(dim, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(tokens).mean(dim=1))
'''
SEQ, VOCAB = 6, 64
EXAMPLES = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]
INSTANCES = [[3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 5, 8], [9, 7, 9, 3, 2, 3], [8, 4, 6, 2, 6, 4]]


def make_state_dict_model(folder: Path, *, examples: bool = True) -> Path:
    """state dict + model.py + vxserve.json in `folder` (created)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(CODE)
    namespace: dict[str, object] = {}
    exec(compile(CODE, str(folder / "model.py"), "exec"), namespace)
    torch.manual_seed(3)
    model = namespace["TinyClassifier"]()  # type: ignore[operator]
    torch.save(model.state_dict(), folder / "weights.pt")  # type: ignore[attr-defined]
    manifest: dict[str, object] = {
        "format": "state_dict", "model_file": "weights.pt", "handler": "classification",
        "input": {"dtype": "int64", "shape": [SEQ], "min": 0, "max": VOCAB - 1},
    }
    if examples:
        manifest["example_instances"] = EXAMPLES
    (folder / "vxserve.json").write_text(json.dumps(manifest, indent=1))
    (folder / "index_to_name.json").write_text(json.dumps({"0": "a", "1": "b", "2": "c"}))
    return folder


@dataclass(frozen=True)
class CompiledArtifacts:
    """The tiny model packaged both ways, made once per test session (`compiled_artifacts`).

    Shared by every test that asks: tests only read these folders; one that changes a
    package works on its own `shutil.copytree` copy.
    """

    eager: Path  # the state dict + model.py both packages came from
    aoti: Path  # `python -m vxserve.package --compile aoti`
    compile: Path  # `vxdeploy package --profile tiny --threads 1`: model.compile = "compile"
    cache: Path  # the torch.compile cache that packaging filled, which servers start from
    cli_report: dict[str, Any]  # `vxdeploy package -o json`'s report for `compile`

    def form(self, mode: str) -> Path:
        """The artifact folder for a compile mode ("aoti" or "compile")."""
        return {"aoti": self.aoti, "compile": self.compile}[mode]


PROFILE = ('target = "local"\nproject = "local-project"\nregion = "us-central1"\n'
           '[model]\nartifact_uri = "{model}"\ncompile = "compile"\n')
PACKAGE_TIMEOUT_S = 400


def build_compiled(root: Path) -> CompiledArtifacts:
    """Package the tiny model as an AOTInductor package and as torch.compile artifacts.

    Two real child processes, run side by side (each mostly keeps one core busy, and
    AOTInductor's C++ compile is tens of seconds): the aoti form through
    `python -m vxserve.package`, the compile form through the `vxdeploy package` CLI with
    a profile, whose report tests/cli/test_package_cli.py checks, so that command runs
    once per session rather than once more for the CLI test. Both use one torch thread,
    the servers' count (inductor's cache key includes it).
    """
    src = make_state_dict_model(root / "model")
    profiles = root / "profiles"
    profiles.mkdir()
    (profiles / "tiny.toml").write_text(PROFILE.format(model=src))
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AIP_", "VXSERVE_", "TORCHINDUCTOR_", "VXDEPLOY_"))}
    cache = root / "compile-cache"
    jobs = {
        "aoti": ([sys.executable, "-m", "vxserve.package", str(src), str(root / "aoti"),
                  "--compile", "aoti"],
                 {**clean, "PYTHONPATH": str(CONTAINERS / "common"),
                  "VXSERVE_COMPILE_CACHE_DIR": str(root / "aoti-cache"),
                  "VXSERVE_TORCH_THREADS": "1"}),
        "compile": ([sys.executable, "-m", "vxdeploy", "package", "--profile", "tiny",
                     "--threads", "1", "-o", "json"],
                    {**clean, "VXDEPLOY_PROFILES_DIR": str(profiles),
                     "VXDEPLOY_HOME": str(root / "home"), "COLUMNS": "200",
                     "VXSERVE_COMPILE_CACHE_DIR": str(cache)}),
    }
    outputs = _run_side_by_side(jobs, root)
    report = json.loads(outputs["compile"])
    return CompiledArtifacts(eager=src, aoti=root / "aoti", compile=Path(report["out"]),
                             cache=cache, cli_report=report)


def _run_side_by_side(jobs: dict[str, tuple[list[str], dict[str, str]]],
                      logs: Path) -> dict[str, str]:
    """Run the commands at once; their stdouts, or an AssertionError with every failure.

    Each is its own process group so a timeout or an interrupted session also stops the
    `vxserve.package` child that `vxdeploy package` starts.
    """
    started: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, (command, env) in jobs.items():
            with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
                started[name] = subprocess.Popen(
                    command, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                    text=True, start_new_session=True)
        deadline = time.monotonic() + PACKAGE_TIMEOUT_S
        failed = []
        for name, proc in started.items():
            try:
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                code = None
            if code != 0:
                err = (logs / f"{name}.err").read_text(errors="replace")[-4000:]
                how = "timed out" if code is None else f"exited {code}"
                failed.append(f"packaging {name} {how}:\n{err}")
        assert not failed, "\n".join(failed)
        return {name: (logs / f"{name}.out").read_text() for name in started}
    finally:
        for proc in started.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def eager_logits(src: Path, instances: list[list[int]]) -> list[list[float]]:
    """What the state dict's model answers in eager PyTorch, the reference for every server."""
    import torch

    namespace: dict[str, object] = {}
    exec(compile(CODE, str(src / "model.py"), "exec"), namespace)
    model = namespace["TinyClassifier"]()  # type: ignore[operator]
    model.load_state_dict(torch.load(src / "weights.pt", weights_only=True))  # type: ignore[attr-defined]
    with torch.inference_mode():
        return model.eval()(torch.tensor(instances)).tolist()  # type: ignore[attr-defined, no-any-return]


def eager_probabilities(src: Path, instances: list[list[int]]) -> list[list[float]]:
    import torch

    return torch.softmax(torch.tensor(eager_logits(src, instances)), dim=1).tolist()  # type: ignore[no-any-return]


def assert_predictions_equal_eager(url: str, predict_route: str, src: Path) -> None:
    """Batch 1 and a batch of 4 through the server equal eager PyTorch's probabilities."""
    import httpx

    for batch in (INSTANCES[:1], INSTANCES):
        response = httpx.post(url + predict_route, json={"instances": batch}, timeout=60)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        expected = eager_probabilities(src, batch)
        assert len(predictions) == len(batch)
        for got, want in zip(predictions, expected, strict=True):
            probs = [got["probabilities"][label] for label in ("a", "b", "c")]
            assert all(abs(g - w) < 1e-5 for g, w in zip(probs, want, strict=True)), (got, want)
