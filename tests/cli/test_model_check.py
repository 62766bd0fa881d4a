"""`vxdeploy model check` (and deploy's pre-flight) through the real CLI and the real loaders.

Each case is a user's artifact folder as people write them; the check must load it in the
chosen container's loader in seconds and name exactly the file and manifest field that is
missing, with exit 2, before any deploy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.torchserve.tutorial_model import make_mar, write_sources

CLASS_ONLY = '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, inputs=4, labels=3):
        super().__init__()
        self.fc = nn.Linear(inputs, labels)

    def forward(self, x):
        return self.fc(x)
'''
EXAMPLES = [[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, -1.0, 0.5]]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.py (a class with default arguments, no factory) and its state dict, made once."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "model.py").write_text(CLASS_ONLY)
    subprocess.run(
        [sys.executable, "-c", "import sys, torch; sys.path.insert(0, sys.argv[1]);"
         "from model import Tiny; torch.manual_seed(0);"
         "torch.save(Tiny().state_dict(), sys.argv[1] + '/weights.pt')", str(folder)],
        check=True, timeout=120)
    return folder


@pytest.fixture
def tiny_folder(tiny_weights: Path, tmp_path: Path):
    """A copy of the tiny model's folder with labels and a manifest, as a user writes it."""

    def make(*, labels: bool = True, manifest: dict | None = None) -> Path:
        folder = tmp_path / "model"
        shutil.copytree(tiny_weights, folder)
        if labels:
            (folder / "index_to_name.json").write_text('{"0": "a", "1": "b", "2": "c"}')
        (folder / "vxserve.json").write_text(json.dumps(
            manifest if manifest is not None else {"example_instances": EXAMPLES}))
        return folder

    return make


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sources(tmp_path_factory.mktemp("tutorial") / "src")


def problems(result) -> list[tuple[str, str]]:
    body = result.json()
    return [(Path(p["file"]).name, p["field"]) for p in body["problems"]]


def test_a_class_with_defaults_loads_and_answers_in_flask_and_tensorrt(vx, tiny_folder) -> None:
    folder = tiny_folder()
    answers = {}
    for container in ("flask", "tensorrt"):
        result = vx("model", "check", "--artifacts", str(folder), "--container", container,
                    "-o", "json")
        assert result.code == 0, result.stdout + result.stderr
        body = result.json()
        assert body["ok"] and body["format"] == "state_dict"
        assert body["handler"] == "classification"
        answers[container] = body["predictions"]
    assert len(answers["flask"]) == len(EXAMPLES)
    # tensorrt checks through its CPU backend (ONNX Runtime): the same answers as torch.
    for onnx, torch_ in zip(answers["tensorrt"], answers["flask"], strict=True):
        assert onnx["label"] == torch_["label"]
        assert onnx["confidence"] == pytest.approx(torch_["confidence"], abs=1e-5)


def test_missing_model_code_names_the_file_and_field(vx, tiny_folder) -> None:
    folder = tiny_folder()
    (folder / "model.py").unlink()
    result = vx("model", "check", "--artifacts", str(folder), "-o", "json")
    assert result.code == 2
    assert problems(result) == [("model.py", "model_class")]
    assert "Traceback" not in result.stderr


def test_classification_without_labels_names_the_labels_file(vx, tiny_folder) -> None:
    folder = tiny_folder(labels=False,
                         manifest={"handler": "classification", "example_instances": EXAMPLES})
    result = vx("model", "check", "--artifacts", str(folder), "-o", "json")
    assert result.code == 2
    assert problems(result) == [("index_to_name.json", "handler")]


def test_examples_the_server_would_refuse_are_named(vx, tiny_folder) -> None:
    folder = tiny_folder(manifest={
        "input": {"dtype": "float32", "shape": [4]}, "example_instances": [[1.0, 2.0]]})
    result = vx("model", "check", "--artifacts", str(folder))
    assert result.code == 2
    assert "vxserve.json: example_instances" in result.stderr
    assert "instance 0 has shape [2], expected [4]" in result.stderr


def test_a_torchserve_handler_is_refused_for_flask_and_runs_in_torchserve(
        vx, tutorial: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tutorial"
    shutil.copytree(tutorial, folder)
    # The manifest names the class, as the user did: 'handler.py:SentimentHandler'.
    (folder / "vxserve.json").write_text(json.dumps({
        "handler": "handler.py:SentimentHandler",
        "example_instances": [{"data": "good movie"}, {"data": "boring plot"}]}))
    flask = vx("model", "check", "--artifacts", str(folder), "--container", "flask",
               "-o", "json")
    assert flask.code == 2
    assert problems(flask) == [("handler.py", "model.container")]
    ts = vx("model", "check", "--artifacts", str(folder), "--container", "torchserve",
            "-o", "json")
    assert ts.code == 0, ts.stdout + ts.stderr
    body = ts.json()
    assert body["mode"] == "torchserve-handler"
    assert [set(p) for p in body["predictions"]] == [{"label", "confidence"}] * 2


def test_a_mar_is_loaded_by_torchserve_and_predicts_given_instances(
        vx, tutorial: Path, tmp_path: Path) -> None:
    mar_dir = tmp_path / "mar"
    make_mar(tutorial, mar_dir)
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps({"instances": ["great fun", "awful"]}))
    result = vx("model", "check", "--artifacts", str(mar_dir), "--container", "torchserve",
                "--instances", str(instances), "-o", "json")
    assert result.code == 0, result.stdout + result.stderr
    assert result.json()["mode"] == "torchserve-mar"
    assert len(result.json()["predictions"]) == 2


@pytest.fixture
def bad_profile(tiny_folder, tmp_path: Path) -> Path:
    folder = tiny_folder()
    (folder / "model.py").unlink()
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "mine.toml").write_text(
        f'target = "local"\n[model]\nartifact_uri = "{folder}"\ncontainer = "flask"\n')
    return profiles


def test_deploy_checks_local_artifacts_before_planning(vx, bad_profile: Path) -> None:
    result = vx("deploy", "--profile", "mine", "--yes", "-o", "json",
                env={"VXDEPLOY_PROFILES_DIR": str(bad_profile)})
    assert result.code == 2, result.stdout + result.stderr
    body = result.json()
    assert body["error"] == "ModelCheckError"
    assert [(Path(p["file"]).name, p["field"]) for p in body["problems"]] == [
        ("model.py", "model_class")]
    # Refused before any API call: no local emulator was started for the plan.
    assert not (Path(bad_profile).parent / "home").exists() or not list(
        (Path(bad_profile).parent / "home").rglob("emulator.json"))
