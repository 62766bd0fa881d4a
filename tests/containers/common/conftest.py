"""vxserve unit tests: put containers/common on sys.path and build tiny model artifacts.

vxserve ships inside images and is not installed into the venv; the emulator and the
images put containers/common on PYTHONPATH, and so do these tests.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

COMMON = Path(__file__).resolve().parents[3] / "containers" / "common"
if str(COMMON) not in sys.path:
    sys.path.insert(0, str(COMMON))

TINY_MODEL_CODE = '''
import torch
from torch import nn


class Tiny(nn.Module):
    """float [batch, 4] -> logits [batch, 3]."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_model(**kwargs):
    return Tiny(**kwargs)
'''


def tiny_model(code_dir: Path):
    """The eager reference model (fixed seed) the artifacts are made from.

    The code lives in a real file because torch.jit.script reads the source.
    """
    import importlib.util

    import torch

    path = code_dir / "tiny_model_ref.py"
    path.write_text(TINY_MODEL_CODE)
    spec = importlib.util.spec_from_file_location("tiny_model_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tiny_model_ref"] = module
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.Tiny().eval()


@pytest.fixture(scope="session")
def tiny_eager(tiny_artifacts: dict[str, Path]):
    """The eager model, equal in weights to every tiny artifact."""
    return tiny_model(tiny_artifacts["root"])


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny classifier in every format: torchscript, export, state_dict (+ labels)."""
    import torch

    root = tmp_path_factory.mktemp("tiny")
    model = tiny_model(root)
    labels = json.dumps({"0": "a", "1": "b", "2": "c"})
    out: dict[str, Path] = {}

    ts = root / "torchscript"
    ts.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # jit.script; still a served format
        torch.jit.script(model).save(str(ts / "model.pt"))
    (ts / "index_to_name.json").write_text(labels)
    out["torchscript"] = ts

    ex = root / "export"
    ex.mkdir()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(model, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(ex / "model.pt2"))
    # Declares the input (so warm-up has instances) but not the format: that is detected.
    (ex / "vxserve.json").write_text(json.dumps({"input": {"dtype": "float32", "shape": [4]}}))
    out["export"] = ex

    sd = root / "state_dict"
    sd.mkdir()
    torch.save(model.state_dict(), sd / "weights.pt")
    (sd / "model.py").write_text(TINY_MODEL_CODE)
    out["state_dict"] = sd
    out["root"] = root
    return out
