"""The store's one mutation path: `transaction()` locks, lets the caller mutate, saves."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.cloud.aiplatform_v1beta1 import types as t

from vxdeploy.emulator.store import StateStore

NAME = "projects/p/locations/us-central1/endpoints/e1"


def test_a_transaction_is_on_disk_when_it_ends(tmp_path: Path):
    store = StateStore(tmp_path)
    with store.transaction() as state:
        state.endpoints[NAME] = t.Endpoint(name=NAME, display_name="saved")
    assert StateStore(tmp_path).endpoints[NAME].display_name == "saved"


def test_a_transaction_that_raises_saves_nothing(tmp_path: Path):
    store = StateStore(tmp_path)
    with pytest.raises(ValueError), store.transaction() as state:
        state.endpoints[NAME] = t.Endpoint(name=NAME)
        raise ValueError("refused")
    assert NAME not in StateStore(tmp_path).endpoints


def test_only_the_store_calls_save():
    """Every mutation goes through `StateStore.transaction()`: a bare `store.save()`
    elsewhere is the old protocol (lock, mutate, remember to save) that could be forgotten."""
    import ast

    package = Path(__file__).resolve().parents[2] / "vxdeploy" / "emulator"
    bare = []
    for path in sorted(package.glob("*.py")):
        if path.name == "store.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "save" and "store" in ast.unparse(node.func.value):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == []
