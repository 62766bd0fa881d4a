"""A tiny token classifier for the compiled-PyTorch tests: compiles in seconds, not minutes.

Same interface as examples/sentiment (int64 token ids -> 3 logits, classification handler)
so every server serves it the same way; small so AOTInductor and torch.compile finish
quickly on the 2-core test machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


_PACKAGED: dict[str, Path] = {}


def packaged(root: Path) -> dict[str, Path]:
    """The tiny model as eager state dict, AOTInductor package and compile artifacts, plus
    the compile cache the `compile` packaging filled; made once per test process by the
    real `python -m vxserve.package` (tens of seconds: AOTInductor runs a C++ compiler)."""
    import os
    import subprocess
    import sys

    if _PACKAGED:
        return _PACKAGED
    common = Path(__file__).resolve().parents[2] / "containers" / "common"
    src = make_state_dict_model(root / "eager")
    cache = root / "compile-cache"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "VXSERVE_",
                                                                          "TORCHINDUCTOR_"))},
           "PYTHONPATH": str(common), "VXSERVE_COMPILE_CACHE_DIR": str(cache),
           # the servers' thread count: inductor's cache key includes it
           "VXSERVE_TORCH_THREADS": "1"}
    for mode in ("aoti", "compile"):
        done = subprocess.run(
            [sys.executable, "-m", "vxserve.package", str(src), str(root / mode), "--compile",
             mode], env=env, capture_output=True, text=True, timeout=400,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    _PACKAGED.update(eager=src, aoti=root / "aoti", compile=root / "compile", cache=cache)
    return _PACKAGED


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
