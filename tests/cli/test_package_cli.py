"""`vxdeploy package` through the real CLI: compiled artifacts from a model folder, and the
user's mistakes (no example instances, a model torch.export cannot trace, an unknown mode)
named by file and field with exit 2 and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.containers.compiled_model import CompiledArtifacts, make_state_dict_model

DATA_DEPENDENT = '''
import torch
from torch import nn


class TinyClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(64, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens):
        x = self.embedding(tokens).mean(dim=1)
        if x.sum() > 0:  # a branch on values: torch.export cannot trace it
            x = x * 2
        return self.head(x)
'''


def test_profile_model_compile_packages_torch_compile_artifacts(
        compiled_artifacts: CompiledArtifacts) -> None:
    # The session fixture ran `vxdeploy package --profile tiny --threads 1 -o json` with
    # model.compile = "compile" (build_compiled); the servers' tests serve what it made.
    report = compiled_artifacts.cli_report
    out = Path(report["out"])
    model = compiled_artifacts.eager
    assert out == model.with_name("model-compile") and report["mode"] == "compile"
    assert report["max_abs_diff"] < 1e-4
    manifest = json.loads((out / "vxserve.json").read_text())
    assert manifest["compile"] == "compile" and manifest["example_instances"]
    assert any(compiled_artifacts.cache.iterdir())  # the warm cache a server starts from


def test_no_example_instances_names_the_manifest_field(vx, tmp_path: Path) -> None:
    model = make_state_dict_model(tmp_path / "model", examples=False)
    result = vx("package", str(model), "--compile", "aoti", "-o", "json")
    assert result.code == 2, result.stderr
    body = json.loads(result.stdout)
    assert [(Path(p["file"]).name, p["field"]) for p in body["problems"]] == \
        [("vxserve.json", "example_instances")]
    assert "--instances" in body["problems"][0]["message"]
    assert "Traceback" not in result.stderr + result.stdout


def test_a_model_torch_export_cannot_trace_is_named(vx, tmp_path: Path) -> None:
    model = make_state_dict_model(tmp_path / "model")
    (model / "model.py").write_text(DATA_DEPENDENT)
    import torch

    namespace: dict[str, object] = {}
    exec(compile(DATA_DEPENDENT, "model.py", "exec"), namespace)
    torch.save(namespace["TinyClassifier"]().state_dict(), model / "weights.pt")  # type: ignore[operator]
    result = vx("package", str(model), "--compile", "aoti")
    assert result.code == 2, result.stderr
    assert "weights.pt: model_class: torch.export fails on this model" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing half-made


def test_unknown_mode_lists_the_allowed_ones(vx, tmp_path: Path) -> None:
    result = vx("package", str(tmp_path), "--compile", "tensorrt")
    assert result.code == 2
    assert "allowed: aoti, compile" in result.stderr
    assert "Traceback" not in result.stderr
