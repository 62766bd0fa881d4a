"""Handlers: validation that names the bad instance, grouping/padding, split, labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from vxserve.artifacts import read_manifest
from vxserve.config import ServeConfig
from vxserve.errors import ConfigError, InvalidInput
from vxserve.handler import (
    BaseHandler,
    ClassificationHandler,
    ModelContext,
    TensorHandler,
    group_by_key,
    load_handler,
    quick,
    quick_hooks,
)


def _handler(cls=TensorHandler, **attrs: Any) -> BaseHandler:
    handler = cls()
    for key, value in attrs.items():
        setattr(handler, key, value)
    return handler


@pytest.mark.parametrize(
    ("attrs", "instances", "message"),
    [
        ({"input_dtype": "int64"}, [[1, 2], [1.5, 2]], "instance 1: expected integers (int64)"),
        ({}, [[1, 2], [True, False]], "instance 1: expected numbers, got booleans"),
        ({}, [[1, 2], ["a", "b"]], "instance 1: not a rectangular array of numbers"),
        ({}, [[1, 2], [[1], [2, 3]]], "instance 1: not a rectangular array"),
        ({}, [[1.0, float("nan")]], "instance 0: contains NaN or infinity"),
        ({"input_shape": (4,)}, [[0, 0, 0, 0], [0, 0, 0]], "instance 1 has shape [3], expected"),
        ({"input_shape": (None, 2)}, [[[1, 2]], [[1, 2, 3]]], "instance 1 has shape [1, 3]"),
        ({}, [1, 2], "instance 0: expected an array, got a single number"),
        ({"input_range": (0, 9)}, [[0, 9], [3, 10]], "instance 1: values must lie in [0, 9]"),
        ({"input_range": (0, 9)}, [[-1, 2]], "got min -1 and max 2"),
    ],
)
def test_bad_instances_are_named(attrs: dict[str, Any], instances: list, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _handler(**attrs).preprocess(instances, {})
    assert message in str(err.value)


def test_good_instances_become_one_tensor_each_with_the_declared_dtype() -> None:
    items = _handler(input_dtype="int64", input_shape=(None,)).preprocess([[1, 2], [3.0, 4.0]], {})
    assert [t.tolist() for t in items] == [[1, 2], [3, 4]]
    assert all(t.dtype == torch.int64 for t in items)
    floats = _handler().preprocess([[1, 2.5]], {})
    assert floats[0].dtype == torch.float32


def test_mixed_lengths_group_by_shape_unless_padding_is_declared() -> None:
    handler = _handler(input_dtype="int64")
    items = handler.preprocess([[1, 2], [3], [4, 5], [6]], {})
    assert list(group_by_key(handler, items).values()) == [[0, 2], [1, 3]]

    padded = _handler(input_dtype="int64", pad_value=0)
    items = padded.preprocess([[1, 2, 3], [4]], {})
    assert list(group_by_key(padded, items).values()) == [[0, 1]]
    assert padded.collate(items).tolist() == [[1, 2, 3], [4, 0, 0]]


def test_split_cuts_tensors_tuples_and_dicts_per_request() -> None:
    handler = _handler()
    out = torch.arange(10).reshape(5, 2)
    parts = handler.split(out, [2, 3])
    assert [p.tolist() for p in parts] == [[[0, 1], [2, 3]], [[4, 5], [6, 7], [8, 9]]]
    tup = handler.split((out, out[:, 0]), [4, 1])
    assert tup[1][1].tolist() == [8]
    dct = handler.split({"a": out}, [1, 4])
    assert dct[0]["a"].tolist() == [[0, 1]]
    with pytest.raises(ConfigError, match="expected 6 rows"):
        handler.split(out, [3, 3])


def test_tensor_handler_postprocess_returns_rows_as_lists() -> None:
    out = _handler().postprocess(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), {})
    assert out == [[1.0, 2.0], [3.0, 4.0]]
    both = _handler().postprocess((torch.tensor([1, 2]), torch.tensor([3, 4])), {})
    assert both == [[1, 3], [2, 4]]


def _context(directory: Path, **env: str) -> ModelContext:
    return ModelContext(ServeConfig.from_env(env), read_manifest(directory), torch.device("cpu"))


def test_classification_handler_answers_label_confidence_probabilities(
    tiny_artifacts: dict[str, Path], tiny_eager
) -> None:
    handler = ClassificationHandler()
    handler.initialize(_context(tiny_artifacts["torchscript"]))
    x = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    predictions = handler.handle(x, {})
    with torch.inference_mode():
        probs = torch.softmax(tiny_eager(torch.tensor(x)), dim=1)
    for row, p in zip(probs, predictions, strict=True):
        best = int(row.argmax())
        assert p["label"] == "abc"[best]
        assert p["confidence"] == pytest.approx(float(row[best]), abs=1e-6)
        assert list(p["probabilities"]) == ["a", "b", "c"]
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_classification_needs_labels_that_fit_the_model(tmp_path: Path, tiny_artifacts) -> None:
    with pytest.raises(ConfigError, match=r"needs index_to_name\.json"):
        ClassificationHandler().initialize(_context(tiny_artifacts["export"]))
    folder = tmp_path / "two_labels"
    folder.mkdir()
    (folder / "model.pt").write_bytes((tiny_artifacts["torchscript"] / "model.pt").read_bytes())
    (folder / "index_to_name.json").write_text('{"0": "x", "1": "y"}')
    handler = ClassificationHandler()
    handler.initialize(_context(folder))
    with pytest.raises(ConfigError, match=r"needs \[batch, 2\]"):
        handler.handle([[0.0, 0.0, 0.0, 0.0]], {})


def test_warmup_instances_come_from_the_manifest_or_the_declared_shape(tmp_path: Path) -> None:
    handler = _handler(input_dtype="int64", input_shape=(None, 3), input_range=(1, 5))
    handler.context = _context_stub(tmp_path, examples=None)
    assert handler.warmup_instances() == [[[1, 1, 1]] * 8]
    handler.context = _context_stub(tmp_path, examples=[[7, 7]])
    assert handler.warmup_instances() == [[7, 7]]


def _context_stub(tmp_path: Path, examples: list | None) -> ModelContext:
    (tmp_path / "m.pt2").write_bytes(b"x")
    manifest = read_manifest(tmp_path)
    manifest.example_instances = examples
    return ModelContext(ServeConfig(), manifest, torch.device("cpu"))


HANDLER_FILE = """
from vxserve import TensorHandler


class Doubling(TensorHandler):
    def postprocess(self, outputs, parameters):
        return [x * 2 for x in super().postprocess(outputs, parameters)]
"""


def test_handlers_load_by_name_file_and_module(tmp_path: Path) -> None:
    assert type(load_handler("tensor", tmp_path)) is TensorHandler
    assert type(load_handler("classification", tmp_path)) is ClassificationHandler
    (tmp_path / "handler.py").write_text(HANDLER_FILE)
    assert type(load_handler("handler.py", tmp_path)).__name__ == "Doubling"
    assert type(load_handler("handler.py:Doubling", tmp_path)).__name__ == "Doubling"
    assert type(load_handler("vxserve.handler:TensorHandler", tmp_path)) is TensorHandler


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fancy", "is not one of: tensor, classification"),
        ("handler.py:Nope", "defines no 'Nope'"),
        ("missing.py", "does not exist"),
        ("no_such_pkg.mod:Cls", "cannot import"),
        ("vxserve.config:ServeConfig", "not a vxserve.BaseHandler subclass"),
    ],
)
def test_bad_handler_specs_say_why(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "handler.py").write_text(HANDLER_FILE)
    with pytest.raises(ConfigError, match=message):
        load_handler(spec, tmp_path)


class Tokenizing(ClassificationHandler):
    def preprocess(self, instances, parameters):  # may block: a user's code
        return super().preprocess(instances, parameters)


class MarkedQuick(ClassificationHandler):
    @quick
    def preprocess(self, instances, parameters):
        return super().preprocess(instances, parameters)


class OwnModelOnly(ClassificationHandler):
    def inference(self, batch):  # runs in a model worker, never on the event loop
        return super().inference(batch)


@pytest.mark.parametrize(
    ("handler", "on_loop"),
    [
        (TensorHandler, True),
        (ClassificationHandler, True),
        (OwnModelOnly, True),
        (Tokenizing, False),
        (MarkedQuick, True),
    ],
)
def test_only_hooks_known_to_be_quick_run_on_the_event_loop(handler, on_loop: bool) -> None:
    assert quick_hooks(handler) is on_loop
    assert quick_hooks(handler()) is on_loop
