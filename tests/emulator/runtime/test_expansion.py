"""Vertex's `$(VAR)` expansion of a container's command and args (Kubernetes rules)."""

from __future__ import annotations

import pytest

from vxdeploy.emulator.runtime.expansion import expand, expand_all

ENV = {"PORT": "8080", "NAME": "m", "EMPTY": ""}


@pytest.mark.parametrize(("text", "expected"), [
    ("--port=$(PORT)", "--port=8080"),
    ("$(NAME)-$(PORT)", "m-8080"),
    ("$$(PORT)", "$(PORT)"),  # escaped: literal
    ("$$$(PORT)", "$8080"),
    ("$(UNKNOWN)", "$(UNKNOWN)"),  # unresolvable: unchanged
    ("$(EMPTY)x", "x"),
    ("{python} {0} {name!r} %s ${PORT}", "{python} {0} {name!r} %s ${PORT}"),  # not special
    ("$(PORT", "$(PORT"),  # incomplete reference
    ("a$", "a$"),
    ("$", "$"),
    ("$x", "$x"),
    ("", ""),
])
def test_expand(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


def test_expand_all_keeps_unset_lists_unset() -> None:
    assert expand_all(None, ENV) is None
    assert expand_all([], ENV) == []
    assert expand_all(["$(NAME)", "b"], ENV) == ["m", "b"]
