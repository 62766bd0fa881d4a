"""Issue 11/12: bad profiles, flags and files through the real `vxdeploy` process: exit 2,
the file, the field and the allowed values, never a traceback, printed as written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PROFILES


def test_validate_reports_every_problem_with_exit_2(vx, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('project = "proj-p"\nregion = "us-centrall1"\n[endpoint]\nname = "svc-"\n'
                   '[machine]\nmachine_type = "n1-standard-1"\nmax_replicas = true\n'
                   '[rollout]\nstrategy = "canary"\nsteps = [50, 10]\n')
    result = vx("-o", "json", "profiles", "validate", str(bad))
    assert result.code == 2, result.stderr
    found = {p["field"]: p for p in result.json()["results"][0]["problems"]}
    assert set(found) == {"region", "endpoint.name", "machine.machine_type",
                          "machine.max_replicas", "rollout.steps"}
    assert all(p["file"] == str(bad) for p in found.values())
    assert "did you mean 'us-central1'" in found["region"]["message"]
    assert "Traceback" not in result.stderr


def test_table_output_prints_brackets_as_written(vx, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('project = "proj-p"\n[endpoint]\nname = "a[b]c"\n')
    result = vx("profiles", "validate", str(bad))
    assert result.code == 2
    assert "got 'a[b]c'" in result.stderr
    missing = tmp_path / "x[bold]y.toml"
    result = vx("plan", "-p", str(missing))
    assert result.code == 2
    assert f"{missing}: profile file not found" in result.stderr


def test_long_lines_are_not_wrapped_without_a_terminal(vx, tmp_path: Path) -> None:
    deep = tmp_path / ("a-very-long-folder-name-" * 4)
    deep.mkdir()
    bad = deep / "bad.toml"
    bad.write_text('project = "proj-p"\n[machine]\nspot = "yes"\n')
    result = vx("profiles", "validate", str(bad), env={"COLUMNS": ""})
    assert result.code == 2
    assert f"{bad}: machine.spot: Input should be a valid boolean" in result.stderr


def test_set_refuses_name_and_extends(vx) -> None:
    for assignment in ("name=x", "extends=prod-a100"):
        result = vx("profiles", "show", "local", "--set", assignment)
        assert result.code == 2
        assert "cannot be overridden" in result.stderr


def test_rollout_negative_split_is_refused_as_a_split(vx) -> None:
    result = vx("rollout", "-10/110", "--profile", "local")
    assert result.code == 2
    assert "No such option" not in result.stderr
    assert "traffic split '-10/110'" in result.stderr
    assert "sum to 100" in result.stderr
    # a negative --to value stays the option's value
    result = vx("rollout", "--to", "-5", "--profile", "local")
    assert result.code == 2 and "--to -5 is not a whole percent" in result.stderr


def test_invalid_toml_names_line_and_key(vx, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('project = "proj-p"\n[machine]\nmax_replicas = = 2\n')
    result = vx("profiles", "validate", str(bad))
    assert result.code == 2
    assert "machine.max_replicas" in result.stderr
    assert "3 | max_replicas = = 2" in result.stderr


def test_show_credits_defaults_as_default(vx) -> None:
    doc = vx("profiles", "show", "local", "-o", "json").json()
    assert doc["sources"]["machine.spot"] == "default"
    assert doc["sources"]["machine.autoscaling.requests_per_minute"] == "default"
    assert doc["sources"]["machine.autoscaling.cpu_utilization"] == str(PROFILES / "base.toml")
    assert doc["sources"]["machine.machine_type"] == str(PROFILES / "local.toml")


def test_predict_accepts_utf16_and_utf8_bom_instances(vx, tmp_path: Path) -> None:
    body = json.dumps({"instances": [{"text": "great café"}]})
    for encoding in ("utf-16", "utf-8-sig"):
        path = tmp_path / f"instances-{encoding}.json"
        path.write_bytes(body.encode(encoding))
        # the file is read first: a decoded file gets as far as the (missing) profile
        result = vx("predict", "--profile", "nope", "--instances", str(path))
        assert result.code == 2, result.stderr
        assert "profile 'nope' not found" in result.stderr, result.stderr


def test_predict_refuses_a_legacy_encoding_naming_file_and_encoding(vx, tmp_path: Path) -> None:
    path = tmp_path / "instances.json"
    path.write_bytes(json.dumps({"instances": [{"text": "café"}]}, ensure_ascii=False)
                     .encode("cp1252"))
    result = vx("predict", "--profile", "local", "--instances", str(path))
    assert result.code == 2
    assert f"{path}: instances file is not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    utf16_no_bom = tmp_path / "nobom.json"
    utf16_no_bom.write_bytes('{"instances": [[1, 2]]}'.encode("utf-16-le"))
    result = vx("predict", "--profile", "local", "--instances", str(utf16_no_bom))
    assert result.code == 2
    assert "UTF-16 without a byte-order mark" in result.stderr


def test_cost_help_points_at_a_doc_that_exists(vx) -> None:
    result = vx("cost", "--help")
    assert result.code == 0
    assert "docs/cost.md" in " ".join(result.stdout.split())
    assert (PROFILES.parent / "docs" / "cost.md").is_file()
