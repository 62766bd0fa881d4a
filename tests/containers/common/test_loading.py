"""Every artifact format loads into a model that answers exactly like the eager one."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from vxserve.artifacts import read_manifest
from vxserve.errors import ConfigError
from vxserve.loading import load_torch_model


@pytest.mark.parametrize("fmt", ["torchscript", "export", "state_dict"])
def test_each_format_matches_eager(fmt: str, tiny_artifacts: dict[str, Path], tiny_eager) -> None:
    model = load_torch_model(read_manifest(tiny_artifacts[fmt]), torch.device("cpu"))
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.allclose(model(x), tiny_eager(x), atol=1e-6)


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_state_dict_is_read_with_weights_only(tmp_path: Path, tiny_artifacts) -> None:
    # A pickle that would call a function on load: weights_only refuses it.
    (tmp_path / "model.py").write_text((tiny_artifacts["state_dict"] / "model.py").read_text())
    (tmp_path / "weights.pt").write_bytes(pickle.dumps({"net.0.weight": _Boom()}))
    with pytest.raises(pickle.UnpicklingError):
        load_torch_model(read_manifest(tmp_path), torch.device("cpu"))


def test_weights_that_do_not_fit_the_code_name_the_class(tmp_path: Path, tiny_artifacts) -> None:
    (tmp_path / "model.py").write_text((tiny_artifacts["state_dict"] / "model.py").read_text())
    torch.save({"net.0.weight": torch.zeros(1)}, tmp_path / "weights.pt")
    with pytest.raises(ConfigError, match="do not fit model:build_model"):
        load_torch_model(read_manifest(tmp_path), torch.device("cpu"))


def test_model_kwargs_reach_the_factory(tmp_path: Path, tiny_artifacts, tiny_eager) -> None:
    (tmp_path / "model.py").write_text((tiny_artifacts["state_dict"] / "model.py").read_text())
    wide = type(tiny_eager)(hidden=16)
    torch.save(wide.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "vxserve.json").write_text('{"model_kwargs": {"hidden": 16}}')
    model = load_torch_model(read_manifest(tmp_path), torch.device("cpu"))
    x = torch.ones(1, 4)
    with torch.inference_mode():
        assert torch.equal(model(x), wide.eval()(x))


def _class_only(code: str) -> str:
    """The tiny model's code without its build_model factory, as tutorials write it."""
    return code.split("\n\ndef build_model")[0] + "\n"


def test_a_class_with_default_arguments_needs_no_factory(
    tmp_path: Path, tiny_artifacts, tiny_eager
) -> None:
    code = (tiny_artifacts["state_dict"] / "model.py").read_text()
    (tmp_path / "model.py").write_text(_class_only(code) + "\n\nclass Tokenizer:\n    pass\n")
    torch.save(tiny_eager.state_dict(), tmp_path / "weights.pt")
    manifest = read_manifest(tmp_path)
    assert manifest.model_class == "model:Tiny"
    model = load_torch_model(manifest, torch.device("cpu"))
    x = torch.randn(3, 4)
    with torch.inference_mode():
        assert torch.equal(model(x), tiny_eager(x))


def test_submodules_used_by_the_top_module_are_not_candidates(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(
        "from torch import nn\n\n"
        "class Block(nn.Module):\n    pass\n\n"
        "class Net(nn.Module):\n    def __init__(self, n=2):\n"
        "        super().__init__()\n"
        "        self.blocks = nn.ModuleList(Block() for _ in range(n))\n"
    )
    torch.save({}, tmp_path / "weights.pt")
    assert read_manifest(tmp_path).model_class == "model:Net"


def test_two_unrelated_modules_ask_for_model_class(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(
        "import torch\n\nclass A(torch.nn.Module):\n    pass\n\n"
        "class B(torch.nn.Module):\n    pass\n"
    )
    torch.save({}, tmp_path / "weights.pt")
    with pytest.raises(ConfigError, match=r"model\.py: cannot tell .*A, B.*model_class"):
        read_manifest(tmp_path)


def test_a_constructor_without_defaults_names_the_missing_argument(
    tmp_path: Path, tiny_artifacts
) -> None:
    code = _class_only((tiny_artifacts["state_dict"] / "model.py").read_text())
    (tmp_path / "model.py").write_text(code.replace("hidden: int = 8", "hidden: int"))
    torch.save({}, tmp_path / "weights.pt")
    with pytest.raises(ConfigError, match=r"Tiny\(\*\*model_kwargs\) cannot be called .*hidden"):
        load_torch_model(read_manifest(tmp_path), torch.device("cpu"))
