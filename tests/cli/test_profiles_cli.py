"""`vxdeploy profiles` and `vxdeploy cost` through the real entry point."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PROFILES

EXAMPLES = {"base", "local", "dev-cpu", "staging-l4-spot", "prod-a100", "prod-h100-psc",
            "batch-scale-to-zero"}


def test_every_example_profile_validates(vx) -> None:
    result = vx("profiles", "validate", "--output", "json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["valid"] is True
    assert {r["profile"] for r in document["results"]} == EXAMPLES


def test_invalid_profile_exits_2_with_every_problem(vx, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[machine]\nmachine_type = "n1-standard-8"\naccelerator_type = '
                   '"NVIDIA_TESLA_A100"\naccelerator_count = 1\nmin_replica = 2\n')
    result = vx("profiles", "validate", str(bad))
    assert result.code == 2
    assert f"{bad}: machine.min_replica: unknown key; did you mean 'min_replicas'?" \
        in " ".join(result.stderr.split())
    as_json = vx("-o", "json", "profiles", "validate", str(bad))
    problems = as_json.json()["results"][0]["problems"]
    # a structural problem does not hide a Vertex rule: both in one run (issue 11)
    assert {p["field"] for p in problems} == {"machine.min_replica", "machine.accelerator_type"}
    accel = next(p for p in problems if p["field"] == "machine.accelerator_type")
    assert "a2-highgpu" in accel["allowed"]


def test_show_reports_sources(vx) -> None:
    result = vx("profiles", "show", "prod-h100-psc", "-o", "json",
                env={"VXDEPLOY_MACHINE__MAX_REPLICAS": "6"})
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [Path(p).stem for p in doc["chain"]] == ["base", "prod-a100", "prod-h100-psc"]
    assert doc["sources"]["machine.machine_type"] == str(PROFILES / "prod-h100-psc.toml")
    assert doc["sources"]["rollout.steps"] == str(PROFILES / "prod-a100.toml")
    assert doc["sources"]["project"] == str(PROFILES / "base.toml")
    assert doc["sources"]["machine.max_replicas"] == "env VXDEPLOY_MACHINE__MAX_REPLICAS"
    assert doc["resolved"]["machine"]["max_replicas"] == 6


def test_json_mode_prints_one_document_and_errors_as_json(vx) -> None:
    result = vx("cost", "--profile", "nope", "--output", "json")
    assert result.code == 2
    assert result.json()["exit_code"] == 2
    assert "profile 'nope' not found" in result.json()["message"]


def test_cost_json_shape(vx) -> None:
    result = vx("cost", "-p", "staging-l4-spot", "-o", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["machine_type"] == "g2-standard-8"
    assert doc["accelerator_type"] == "NVIDIA_L4" and doc["spot"] is True
    assert doc["monthly_at_max_usd"] == round(doc["node_hourly_usd"] * 730 * 4, 2) or \
        abs(doc["monthly_at_max_usd"] - doc["node_hourly_usd"] * 730 * 4) < 0.05
    assert set(doc) >= {"monthly_at_min_usd", "monthly_at_max_usd", "assumptions",
                        "prices_checked_on", "quota_vcpus_at_max"}


def test_set_override_on_the_command_line(vx) -> None:
    result = vx("cost", "-p", "dev-cpu", "--set", "machine.max_replicas=10", "-o", "json")
    assert result.json()["max_replicas"] == 10


def test_version(vx) -> None:
    result = vx("--version")
    assert result.code == 0 and result.stdout.startswith("vxdeploy ")
