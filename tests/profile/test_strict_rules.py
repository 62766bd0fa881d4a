"""Issue 11: profile mistakes Vertex would refuse are refused first, all in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxdeploy import catalog
from vxdeploy.profile import ProfileError, load_profile

GOOD = 'project = "proj-p"\n'


def problems(write_profile, profiles_dir: Path, body: str, name: str = "t") -> list:
    write_profile(name, body)
    try:
        load_profile(name, profiles_dir, environ={})
    except ProfileError as error:
        return error.problems
    return []


def fields(found: list) -> set[str]:
    return {p.field for p in found}


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ('[endpoint]\nname = "svc-"\n', "endpoint.name", "ending with a letter or digit"),
    ('[endpoint]\nname = "Svc"\n', "endpoint.name", "lowercase"),
    ('region = "us-centrall1"\n', "region", "did you mean 'us-central1'"),
    ('region = "mars-north1"\n', "region", "europe-west4"),
    ('[machine]\nmachine_type = "n1-standard-1"\n', "machine.machine_type",
     "n1-standard-{2,4,8,16,32}"),
    ('[machine]\nmachine_type = "n1-standard-96"\n', "machine.machine_type", "e2-standard"),
    ('[machine]\nmachine_type = "n1-highcpu-2"\n', "machine.machine_type", "n1-highcpu-{4,"),
    ('[machine]\nservice_account = "deployer"\n', "machine.service_account", "e-mail"),
    ('project = "My Project"\n', "project", "6-30 characters"),
    ('project = "abc"\n', "project", "6-30 characters"),
    ('project = "my-project-"\n', "project", "not ending with a hyphen"),
    ('[machine]\nmax_replicas = true\n', "machine.max_replicas", "integer"),
    ('[machine]\nmax_replicas = "2"\n', "machine.max_replicas", "integer"),
    ('[machine]\nspot = "yes"\n', "machine.spot", "true or false"),
    ('[rollout]\nbake_time_s = "600"\n', "rollout.bake_time_s", "number"),
])
def test_refused_with_field_and_allowed_values(write_profile, profiles_dir: Path, body: str,
                                               field: str, fragment: str) -> None:
    body = body if body.startswith("project") else GOOD + body
    found = problems(write_profile, profiles_dir, body)
    match = [p for p in found if p.field == field]
    assert match, found
    assert fragment in f"{match[0].message} {match[0].allowed}"
    assert match[0].file == str(profiles_dir / "t.toml")


@pytest.mark.parametrize("body", [
    '[endpoint]\nname = "a"\n', '[endpoint]\nname = "svc-2"\n',
    'project = "example.com:my-project"\n', 'project = "my-project-123"\n',
    '[machine]\nservice_account = "sa@my-project.iam.gserviceaccount.com"\n',
    'region = "europe-west4"\n', '[machine]\nspot = true\nmax_replicas = 3\n',
    '[rollout]\nbake_time_s = 5\n',
])
def test_valid_values_still_pass(write_profile, profiles_dir: Path, body: str) -> None:
    body = body if body.startswith("project") else GOOD + body
    assert problems(write_profile, profiles_dir, body) == []


def test_vertex_prediction_machine_families_match_the_documented_list() -> None:
    # "Configure compute resources for prediction": N1 stops at 32 vCPUs, no n1-standard-1.
    n1 = sorted((m for m in catalog.MACHINE_TYPES if m.startswith("n1-")),
                key=lambda m: (m.split("-")[1], int(m.split("-")[2])))
    assert n1 == [f"n1-highcpu-{n}" for n in (4, 8, 16, 32)] + \
        [f"n1-highmem-{n}" for n in (2, 4, 8, 16, 32)] + \
        [f"n1-standard-{n}" for n in (2, 4, 8, 16, 32)]
    e2 = {m for m in catalog.MACHINE_TYPES if m.startswith("e2-")}
    assert e2 == {*(f"e2-standard-{n}" for n in (2, 4, 8, 16, 32)),
                  *(f"e2-highmem-{n}" for n in (2, 4, 8, 16)),
                  *(f"e2-highcpu-{n}" for n in (2, 4, 8, 16, 32))}


def test_vpc_peered_endpoint_refuses_keep_and_long_timeouts(write_profile,
                                                              profiles_dir: Path) -> None:
    found = problems(write_profile, profiles_dir, GOOD + (
        '[endpoint]\nkind = "vpc-peering"\nnetwork = "projects/123/global/networks/n"\n'
        'inference_timeout_s = 120\n[rollout]\nold_version = "keep"\n'))
    assert fields(found) == {"endpoint.inference_timeout_s", "rollout.old_version"}
    timeout = next(p for p in found if p.field == "endpoint.inference_timeout_s")
    assert "1..60" in timeout.allowed


def test_type_errors_do_not_hide_rules(write_profile, profiles_dir: Path) -> None:
    found = problems(write_profile, profiles_dir, GOOD + (
        '[machine]\nmax_replicas = true\nmachine_type = "n1-standard-1"\n'
        '[rollout]\nstrategy = "canary"\nsteps = [50, 10]\n'))
    assert fields(found) == {"machine.max_replicas", "machine.machine_type", "rollout.steps"}


def test_rules_about_a_broken_value_are_not_reported(write_profile, profiles_dir: Path) -> None:
    # min_replicas vs a broken max_replicas would compare with a stand-in default
    found = problems(write_profile, profiles_dir,
                     GOOD + '[machine]\nmin_replicas = 3\nmax_replicas = "4"\n')
    assert fields(found) == {"machine.max_replicas"}


def test_unset_field_is_blamed_on_the_profile_not_its_parent(write_profile,
                                                             profiles_dir: Path) -> None:
    write_profile("base", GOOD + '[endpoint]\nname = "svc"\n[model]\ndisplay_name = "m"\n')
    leaf = write_profile("leaf", 'extends = "base"\n[model]\ncontainer = "custom"\n'
                                 '[endpoint]\nkind = "vpc-peering"\n')
    with pytest.raises(ProfileError) as err:
        load_profile("leaf", profiles_dir, environ={})
    by_field = {p.field: p for p in err.value.problems}
    assert by_field["model.image"].file == str(leaf)
    assert by_field["endpoint.network"].file == str(leaf)


def test_profiles_show_credits_defaults_to_default(write_profile, profiles_dir: Path) -> None:
    base = write_profile("base", GOOD + '[machine]\nmachine_type = "n1-standard-4"\n')
    leaf = write_profile("leaf", 'extends = "base"\n[machine]\nmax_replicas = 2\n')
    loaded = load_profile("leaf", profiles_dir, environ={})
    assert loaded.source_of("machine.machine_type") == str(base)
    assert loaded.source_of("machine.max_replicas") == str(leaf)
    assert loaded.source_of("machine.spot") == "default"
    assert loaded.source_of("machine.autoscaling.cpu_utilization") == "default"


def test_invalid_toml_shows_the_line_and_the_key(write_profile, profiles_dir: Path) -> None:
    found = problems(write_profile, profiles_dir,
                     GOOD + '[machine]\nmin_replicas = 1\nmax_replicas = = 2\n')
    (problem,) = found
    assert problem.field == "machine.max_replicas"
    assert "line 4" in problem.message
    assert "max_replicas = = 2" in problem.message


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_profile_written_with_a_bom_loads(profiles_dir: Path, encoding: str) -> None:
    (profiles_dir / "w.toml").write_bytes((GOOD + "[machine]\nmax_replicas = 3\n").encode(encoding))
    assert load_profile("w", profiles_dir, environ={}).profile.machine.max_replicas == 3


def test_profile_in_a_legacy_encoding_names_file_and_encoding(profiles_dir: Path) -> None:
    path = profiles_dir / "l.toml"
    path.write_bytes((GOOD + 'description = "café"\n').encode("cp1252"))
    with pytest.raises(Exception) as err:
        load_profile("l", profiles_dir, environ={})
    assert str(path) in str(err.value) and "not UTF-8" in str(err.value)
    assert err.value.exit_code == 2  # type: ignore[attr-defined]


def test_set_refuses_what_cannot_be_set(write_profile, profiles_dir: Path) -> None:
    from vxdeploy.errors import InvalidInputError

    write_profile("t", GOOD)
    for assignment in ("name=x", "extends=base"):
        with pytest.raises(InvalidInputError, match="cannot be overridden"):
            load_profile("t", profiles_dir, environ={}, cli_overrides=[assignment])


def test_set_keeps_text_for_string_fields(write_profile, profiles_dir: Path) -> None:
    write_profile("t", GOOD)
    loaded = load_profile("t", profiles_dir, environ={},
                          cli_overrides=["model.display_name=123", "machine.max_replicas=3"])
    assert loaded.profile.model.display_name == "123"
    assert loaded.profile.machine.max_replicas == 3


def test_extends_bundled_examples_from_any_folder(write_profile, profiles_dir: Path) -> None:
    from vxdeploy.paths import example_profiles_dir

    write_profile("mine", 'extends = "bundled:base"\nproject = "my-own-project"\n')
    loaded = load_profile("mine", profiles_dir, environ={})
    assert loaded.chain[0] == example_profiles_dir() / "base.toml"
    assert loaded.profile.endpoint.name == "sentiment"
    # a plain name still means this folder, and the error lists the bundled ones
    write_profile("other", 'extends = "base"\n')
    with pytest.raises(ProfileError) as err:
        load_profile("other", profiles_dir, environ={})
    assert "did you mean 'bundled:base'" in str(err.value)
    write_profile("typo", 'extends = "bundled:bsae"\n')
    with pytest.raises(ProfileError) as err:
        load_profile("typo", profiles_dir, environ={})
    (problem,) = err.value.problems
    assert "bundled profile 'bsae' not found" in problem.message
    assert "did you mean 'bundled:base'" in problem.message
    assert "prod-a100" in problem.allowed


def test_name_in_a_file_is_refused_not_ignored(write_profile, profiles_dir: Path) -> None:
    path = write_profile("t", GOOD + 'name = "other"\n')
    with pytest.raises(ProfileError) as err:
        load_profile("t", profiles_dir, environ={})
    (problem,) = err.value.problems
    assert (problem.file, problem.field) == (str(path), "name")
    assert "file name" in problem.message
