"""The example model: every format from make_model.py answers like the eager module."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sentiment"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def out() -> Path:
    """The repo's artifacts (`make example` makes them; a no-op when up to date)."""
    subprocess.run(
        [sys.executable, str(EXAMPLE / "make_model.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return EXAMPLE / "artifacts"


def test_make_model_is_idempotent(out: Path) -> None:
    stamp_before = (out / ".stamp").stat().st_mtime_ns
    model_before = (out / "torchscript" / "model.pt").stat().st_mtime_ns
    again = subprocess.run(
        [sys.executable, str(EXAMPLE / "make_model.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "v1 is up to date" in again.stdout and "v2 is up to date" in again.stdout
    assert (out / ".stamp").stat().st_mtime_ns == stamp_before
    assert (out / "torchscript" / "model.pt").stat().st_mtime_ns == model_before


def test_artifact_folders_hold_what_vxserve_needs(out: Path) -> None:
    for name, model_file in [
        ("torchscript", "model.pt"),
        ("export", "model.pt2"),
        ("state_dict", "weights.pt"),
        ("torchscript-v2", "model.pt"),
    ]:
        folder = out / name
        assert (folder / model_file).is_file()
        labels = json.loads((folder / "index_to_name.json").read_text())
        assert labels == {"0": "negative", "1": "neutral", "2": "positive"}
        manifest = json.loads((folder / "vxserve.json").read_text())
        assert manifest["handler"] == "classification"
        assert manifest["input"]["dtype"] == "int64" and manifest["input"]["max"] == 19999
    assert (out / "state_dict" / "model.py").read_text() == (EXAMPLE / "model.py").read_text()


def test_every_format_equals_eager_and_v2_differs(out: Path) -> None:
    model_module = _load(EXAMPLE / "model.py", "sentiment_model_under_test")
    eager = model_module.SentimentClassifier().eval()
    eager.load_state_dict(torch.load(out / "state_dict" / "weights.pt", weights_only=True))
    instances = json.loads((EXAMPLE / "instances.json").read_text())["instances"]
    x = torch.tensor(instances)
    assert x.shape == (len(instances), model_module.SEQ_LEN) and x.dtype == torch.int64
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore", DeprecationWarning)
        want = eager(x)
        scripted = torch.jit.load(str(out / "torchscript" / "model.pt"))
        exported = torch.export.load(str(out / "export" / "model.pt2")).module()
        assert torch.allclose(scripted(x), want, atol=1e-6)
        assert torch.allclose(exported(x), want, atol=1e-6)
        assert torch.allclose(exported(x[:1]), want[:1], atol=1e-6)  # dynamic batch
        v2 = torch.jit.load(str(out / "torchscript-v2" / "model.pt"))
        assert not torch.allclose(v2(x), want, atol=1e-3)
