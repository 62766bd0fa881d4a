"""docs/profiles.md and `vxdeploy profiles schema` are generated from the models, and stay so."""

from __future__ import annotations

import tomllib
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import PROFILES, REPO
from vxdeploy.profile.model import Profile
from vxdeploy.profile.reference import json_schema, render_markdown


def test_committed_profile_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "profiles.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), \
        "docs/profiles.md is stale: run `vxdeploy profiles docs --write docs/profiles.md`"


def _all_fields(model: type, prefix: str = "") -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and hasattr(nested, "model_fields"):
            names += _all_fields(nested, f"{prefix}{name}.")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_reference_lists_every_field_with_enums_and_rules() -> None:
    text = render_markdown()
    for dotted in _all_fields(Profile):
        if dotted != "name":
            assert f"`{dotted}`" in text, dotted
    assert "`all-at-once`, `canary`, `linear`, `manual`" in text
    assert "ending with a letter or digit" in text  # endpoint id rule
    assert "#:schema" in text and "Even Better TOML" in text


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.toml")), ids=lambda p: p.stem)
def test_example_profiles_satisfy_the_schema(path: Path) -> None:
    jsonschema.validate(tomllib.loads(path.read_text()), json_schema())


@pytest.mark.parametrize("body", ['[machine]\nmax_replicas = "2"\n',
                                  '[machine]\nspot = "yes"\n', '[machine]\nmin_replica = 1\n',
                                  '[rollout]\nstrategy = "fast"\n'])
def test_schema_flags_what_the_loader_refuses(body: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(tomllib.loads(body), json_schema())


def test_schema_and_docs_commands(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    run = [sys.executable, "-m", "vxdeploy", "profiles"]
    schema = subprocess.run([*run, "schema"], capture_output=True, text=True, timeout=60)
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout) == json_schema()
    stale = tmp_path / "profiles.md"
    stale.write_text("old\n")
    check = subprocess.run([*run, "docs", "--check", str(stale)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 1 and "out of date" in check.stderr
    subprocess.run([*run, "docs", "--write", str(stale)], check=True, timeout=60)
    assert stale.read_text() == render_markdown()
