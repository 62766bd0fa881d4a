"""Inheritance, deep merge, provenance and override precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxdeploy.errors import InvalidInputError
from vxdeploy.profile import ProfileError, load_profile
from vxdeploy.profile.loader import parse_set_options

BASE = """
project = "proj-p"
[endpoint]
name = "svc"
labels = { team = "a", tier = "gold" }
[machine]
machine_type = "n1-standard-4"
min_replicas = 1
max_replicas = 4
"""


def test_chain_deep_merges_and_records_sources(write_profile, profiles_dir: Path) -> None:
    base = write_profile("base", BASE)
    mid = write_profile("mid", 'extends = "base"\n[machine]\nmax_replicas = 6\n'
                               '[endpoint]\nlabels = { team = "b" }\n')
    leaf = write_profile("leaf", 'extends = "mid"\n[machine]\nmin_replicas = 2\n')
    loaded = load_profile("leaf", profiles_dir, environ={})
    machine = loaded.profile.machine
    assert (machine.machine_type, machine.min_replicas, machine.max_replicas) == (
        "n1-standard-4", 2, 6)
    assert loaded.profile.endpoint.labels == {"team": "b", "tier": "gold"}
    assert loaded.chain == [base, mid, leaf]
    assert loaded.source_of("machine.min_replicas") == str(leaf)
    assert loaded.source_of("machine.max_replicas") == str(mid)
    assert loaded.source_of("machine.machine_type") == str(base)
    assert loaded.source_of("endpoint.labels.tier") == str(base)
    assert loaded.source_of("rollout.bake_time_s") == "default"
    assert loaded.profile.name == "leaf"


def test_multiple_parents_apply_in_order(write_profile, profiles_dir: Path) -> None:
    write_profile("a", '[machine]\nmax_replicas = 2\n')
    write_profile("b", '[machine]\nmax_replicas = 3\nmin_replicas = 2\n')
    write_profile("c", 'extends = ["a", "b"]\n')
    assert load_profile("c", profiles_dir, environ={}).profile.machine.max_replicas == 3


def test_cycle_is_rejected_with_the_chain(write_profile, profiles_dir: Path) -> None:
    write_profile("x", 'extends = "y"\n')
    write_profile("y", 'extends = "x"\n')
    with pytest.raises(ProfileError) as err:
        load_profile("x", profiles_dir, environ={})
    assert "inheritance cycle: x -> y -> x" in str(err.value)


def test_missing_parent_suggests_a_name(write_profile, profiles_dir: Path) -> None:
    write_profile("base", BASE)
    write_profile("child", 'extends = "bsae"\n')
    with pytest.raises(ProfileError, match="did you mean 'base'"):
        load_profile("child", profiles_dir, environ={})


def test_precedence_env_over_file_and_cli_over_env(write_profile, profiles_dir: Path) -> None:
    path = write_profile("base", BASE)
    env = {"VXDEPLOY_MACHINE__MAX_REPLICAS": "9", "VXDEPLOY_MACHINE__MIN_REPLICAS": "3",
           "VXDEPLOY_OUTPUT": "json"}
    loaded = load_profile("base", profiles_dir, environ=env,
                          cli_overrides=["machine.min_replicas=5"])
    assert loaded.profile.machine.max_replicas == 9
    assert loaded.profile.machine.min_replicas == 5
    assert loaded.source_of("machine.max_replicas") == "env VXDEPLOY_MACHINE__MAX_REPLICAS"
    assert loaded.source_of("machine.min_replicas") == "cli --set"
    assert loaded.source_of("machine.machine_type") == str(path)


def test_env_can_set_lists_and_booleans(write_profile, profiles_dir: Path) -> None:
    write_profile("base", BASE)
    env = {"VXDEPLOY_ROLLOUT__STEPS": "[5, 50, 100]", "VXDEPLOY_MACHINE__SPOT": "true"}
    profile = load_profile("base", profiles_dir, environ=env).profile
    assert profile.rollout.steps == [5, 50, 100]
    assert profile.machine.spot is True


def test_bad_env_value_names_the_variable(write_profile, profiles_dir: Path) -> None:
    write_profile("base", BASE)
    with pytest.raises(ProfileError) as err:
        load_profile("base", profiles_dir, environ={"VXDEPLOY_MACHINE__MAX_REPLICAS": "lots"})
    (problem,) = err.value.problems
    assert problem.file == "env VXDEPLOY_MACHINE__MAX_REPLICAS"
    assert problem.field == "machine.max_replicas"


def test_set_values_parse_as_toml() -> None:
    tree = parse_set_options(["machine.spot=true", "rollout.steps=[10, 100]",
                              "endpoint.name=plain-text", "machine.min_replicas=2"])
    assert tree == {"machine": {"spot": True, "min_replicas": 2},
                    "rollout": {"steps": [10, 100]}, "endpoint": {"name": "plain-text"}}


def test_set_without_equals_is_invalid() -> None:
    with pytest.raises(InvalidInputError, match="expected FIELD=VALUE"):
        parse_set_options(["machine.spot"])


def test_unknown_profile_suggests(write_profile, profiles_dir: Path) -> None:
    write_profile("prod-a100", BASE)
    with pytest.raises(InvalidInputError, match="did you mean 'prod-a100'"):
        load_profile("prod-a10", profiles_dir, environ={})


def test_invalid_toml_names_the_file(write_profile, profiles_dir: Path) -> None:
    path = write_profile("broken", "[machine\n")
    with pytest.raises(ProfileError) as err:
        load_profile("broken", profiles_dir, environ={})
    assert err.value.problems[0].file == str(path)
    assert "not valid TOML" in err.value.problems[0].message


def test_profile_by_path(tmp_path: Path, profiles_dir: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(BASE)
    assert load_profile(str(path), profiles_dir, environ={}).profile.name == "elsewhere"


def test_local_paths_resolve_against_the_file_that_set_them(write_profile,
                                                            profiles_dir: Path) -> None:
    write_profile("loc", 'target = "local"\n[model]\nartifact_uri = "../models/v1"\n')
    profile = load_profile("loc", profiles_dir, environ={}).profile
    assert profile.model.artifact_uri == str((profiles_dir / "../models/v1").resolve())
