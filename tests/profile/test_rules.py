"""Each Vertex rule, with a good and a bad case, reported with file, field and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxdeploy.profile import ProfileError, load_profile

GOOD_BASE = 'project = "proj-p"\n'


def problems_for(write_profile, profiles_dir: Path, body: str) -> list:
    write_profile("t", GOOD_BASE + body)
    try:
        load_profile("t", profiles_dir, environ={})
    except ProfileError as error:
        return error.problems
    return []


CASES = [
    # (id, profile body, expected field or None when valid, message fragment)
    ("n1-with-t4", '[machine]\nmachine_type = "n1-standard-8"\naccelerator_type = '
     '"NVIDIA_TESLA_T4"\naccelerator_count = 2\n', None, ""),
    ("n1-with-a100", '[machine]\nmachine_type = "n1-standard-8"\naccelerator_type = '
     '"NVIDIA_TESLA_A100"\naccelerator_count = 1\n', "machine.accelerator_type",
     "n1-standard-8 cannot take NVIDIA_TESLA_A100"),
    ("n1-bad-count", '[machine]\nmachine_type = "n1-standard-32"\naccelerator_type = '
     '"NVIDIA_TESLA_T4"\naccelerator_count = 1\n', "machine.accelerator_count", "takes 2, 4"),
    ("v100-8-on-n1-8", '[machine]\nmachine_type = "n1-standard-8"\naccelerator_type = '
     '"NVIDIA_TESLA_V100"\naccelerator_count = 8\n', None, ""),
    ("a2-implied", '[machine]\nmachine_type = "a2-highgpu-2g"\n', None, ""),
    ("a2-explicit", '[machine]\nmachine_type = "a2-highgpu-2g"\naccelerator_type = '
     '"NVIDIA_TESLA_A100"\naccelerator_count = 2\n', None, ""),
    ("a2-wrong-count", '[machine]\nmachine_type = "a2-highgpu-2g"\naccelerator_type = '
     '"NVIDIA_TESLA_A100"\naccelerator_count = 4\n', "machine.accelerator_count",
     "exactly 2"),
    ("a100-80-on-a2-high", '[machine]\nmachine_type = "a2-highgpu-1g"\naccelerator_type = '
     '"NVIDIA_A100_80GB"\n', "machine.accelerator_type", "a2-ultragpu"),
    ("l4-on-g2-24", '[machine]\nmachine_type = "g2-standard-24"\naccelerator_count = 2\n',
     None, ""),
    ("h100-on-a3", '[machine]\nmachine_type = "a3-highgpu-8g"\naccelerator_type = '
     '"NVIDIA_H100_80GB"\naccelerator_count = 8\n', None, ""),
    ("h200-on-a3-high", '[machine]\nmachine_type = "a3-highgpu-8g"\naccelerator_type = '
     '"NVIDIA_H200_141GB"\n', "machine.accelerator_type", "a3-ultragpu-8g"),
    ("gpu-on-e2", '[machine]\nmachine_type = "e2-standard-4"\naccelerator_type = '
     '"NVIDIA_TESLA_T4"\naccelerator_count = 1\n', "machine.accelerator_type",
     "no accelerators on e2"),
    ("unknown-machine", '[machine]\nmachine_type = "n1-standrd-4"\n', "machine.machine_type",
     "did you mean n1-standard-4"),
    ("unknown-accel", '[machine]\nmachine_type = "n1-standard-4"\naccelerator_type = '
     '"NVIDIA_TESLA_T5"\naccelerator_count = 1\n', "machine.accelerator_type", "unknown"),
    ("count-without-type", '[machine]\naccelerator_count = 1\n', "machine.accelerator_count",
     "no accelerator_type"),
    ("min-over-max", '[machine]\nmin_replicas = 3\nmax_replicas = 2\n', "machine.min_replicas",
     "above max_replicas"),
    ("zero-without-stz", '[machine]\nmin_replicas = 0\n', "machine.min_replicas",
     "needs scale-to-zero"),
    ("required-over-min", '[machine]\nmin_replicas = 2\nmax_replicas = 4\nrequired_replicas = 3\n',
     "machine.required_replicas", "above min_replicas"),
    ("stz-good", '[endpoint]\nkind = "dedicated"\n[machine]\nmin_replicas = 0\n'
     '[machine.scale_to_zero]\nenabled = true\n', None, ""),
    ("stz-on-shared", '[machine]\nmin_replicas = 0\n[machine.scale_to_zero]\nenabled = true\n',
     "machine.scale_to_zero.enabled", "shared public endpoint"),
    ("stz-min-one", '[endpoint]\nkind = "dedicated"\n[machine.scale_to_zero]\nenabled = true\n',
     "machine.min_replicas", "needs min_replicas = 0"),
    ("stz-period", '[endpoint]\nkind = "dedicated"\n[machine]\nmin_replicas = 0\n'
     '[machine.scale_to_zero]\nenabled = true\nidle_scaledown_period_s = 100\n',
     "machine.scale_to_zero.idle_scaledown_period_s", "300..28800"),
    ("stz-canary", '[endpoint]\nkind = "dedicated"\n[machine]\nmin_replicas = 0\n'
     '[machine.scale_to_zero]\nenabled = true\n[rollout]\nstrategy = "canary"\n',
     "rollout.strategy", "one model"),
    ("psc-good", '[endpoint]\nkind = "psc"\npsc_project_allowlist = ["p"]\n', None, ""),
    ("psc-no-allowlist", '[endpoint]\nkind = "psc"\n', "endpoint.psc_project_allowlist",
     "at least one"),
    ("psc-and-network", '[endpoint]\nkind = "psc"\npsc_project_allowlist = ["p"]\n'
     'network = "projects/1/global/networks/n"\n', "endpoint.network", "exclusive"),
    ("allowlist-on-public", '[endpoint]\npsc_project_allowlist = ["p"]\n',
     "endpoint.psc_project_allowlist", "kind = \"psc\""),
    ("peering-good", '[endpoint]\nkind = "vpc-peering"\nnetwork = '
     '"projects/123/global/networks/prod"\n[rollout]\nstrategy = "all-at-once"\n', None, ""),
    ("peering-by-name", '[endpoint]\nkind = "vpc-peering"\nnetwork = '
     '"projects/my-proj/global/networks/prod"\n[rollout]\nstrategy = "all-at-once"\n',
     "endpoint.network", "project number"),
    ("peering-canary", '[endpoint]\nkind = "vpc-peering"\nnetwork = '
     '"projects/123/global/networks/prod"\n[rollout]\nstrategy = "canary"\n',
     "rollout.strategy", "no traffic split"),
    ("timeout-shared", '[endpoint]\ninference_timeout_s = 600\n', "endpoint.inference_timeout_s",
     "60 s"),
    ("timeout-dedicated", '[endpoint]\nkind = "dedicated"\ninference_timeout_s = 600\n', None, ""),
    ("steps-descending", '[rollout]\nstrategy = "linear"\nsteps = [50, 10, 100]\n',
     "rollout.steps", "strictly ascending"),
    ("steps-over-100", '[rollout]\nstrategy = "linear"\nsteps = [10, 150]\n', "rollout.steps.1",
     "less than or equal to 100"),
    ("steps-fractional", '[rollout]\nstrategy = "linear"\nsteps = [12.5, 100]\n',
     "rollout.steps", "whole percents"),
    ("linear-not-100", '[rollout]\nstrategy = "linear"\nsteps = [10, 50]\n', "rollout.steps",
     "ends at 100"),
    ("canary-100", '[rollout]\nstrategy = "canary"\nsteps = [100]\n', "rollout.steps",
     "below 100"),
    ("custom-no-image", '[model]\ncontainer = "custom"\n', "model.image", "needs an image"),
    ("vertex-gs-path", '[model]\nartifact_uri = "gs://b/m"\n', None, ""),
    ("vertex-local-path", '[model]\nartifact_uri = "/data/m"\n', "model.artifact_uri",
     "Cloud Storage"),
    ("vertex-local-path-staged",
     'staging_bucket = "gs://stage"\n[model]\nartifact_uri = "/data/m"\n', None, ""),
    ("aip-env", '[model]\nenv = { AIP_HTTP_PORT = "1" }\n', "model.env.AIP_HTTP_PORT",
     "Vertex sets"),
    ("tensorrt-cpu", '[model]\ncontainer = "tensorrt"\n', "model.container", "NVIDIA GPU"),
    ("tensorrt-cpu-onnxruntime", '[model]\ncontainer = "tensorrt"\nbackend = "onnxruntime"\n',
     None, ""),
    ("tensorrt-cpu-asks-tensorrt", '[model]\ncontainer = "tensorrt"\nbackend = "tensorrt"\n',
     "model.backend", 'backend = "onnxruntime"'),
    ("tensorrt-gpu-tensorrt", '[model]\ncontainer = "tensorrt"\nbackend = "tensorrt"\n'
     '[machine]\nmachine_type = "g2-standard-4"\n', None, ""),
    ("backend-on-flask", '[model]\nbackend = "onnxruntime"\n', "model.backend",
     "only the tensorrt container"),
    ("backend-bad-value", '[model]\ncontainer = "tensorrt"\nbackend = "openvino"\n',
     "model.backend", ""),
    ("backend-contradicts-env", '[model]\ncontainer = "tensorrt"\nbackend = "onnxruntime"\n'
     'env = { VXSERVE_TRT_BACKEND = "tensorrt" }\n', "model.env.VXSERVE_TRT_BACKEND",
     "contradicts"),
    ("autocast-bf16", '[model]\nenv = { VXSERVE_AUTOCAST = "bf16" }\n', None, ""),
    ("autocast-typo", '[model]\nenv = { VXSERVE_AUTOCAST = "bfloat16" }\n',
     "model.env.VXSERVE_AUTOCAST", "off, bf16, fp16"),
    ("autocast-on-tensorrt", '[model]\ncontainer = "tensorrt"\nbackend = "onnxruntime"\n'
     'env = { VXSERVE_AUTOCAST = "bf16" }\n', "model.env.VXSERVE_AUTOCAST",
     "VXSERVE_TRT_PRECISION"),
    ("autocast-blank-is-off", '[model]\nenv = { VXSERVE_AUTOCAST = "" }\n', None, ""),
    ("autocast-case-and-spaces", '[model]\nenv = { VXSERVE_AUTOCAST = " BF16 " }\n', None, ""),
    ("autocast-off-on-tensorrt", '[model]\ncontainer = "tensorrt"\nbackend = "onnxruntime"\n'
     'env = { VXSERVE_AUTOCAST = "Off" }\n', None, ""),
    ("compile-on-flask", '[model]\ncompile = "compile"\n', None, ""),
    ("compile-on-custom", '[model]\ncontainer = "custom"\nimage = "r/i:1"\ncompile = "aoti"\n',
     "model.compile", "does not serve compiled PyTorch"),
    ("compile-bad-value", '[model]\ncompile = "jit"\n', "model.compile", ""),
    ("alert-duration", '[alerts]\nduration_s = 90\n', "alerts.duration_s", "multiple of 60"),
    ("duty-without-gpu", '[machine.autoscaling]\naccelerator_duty_cycle = 50\n',
     "machine.autoscaling.accelerator_duty_cycle", "needs an accelerator"),
    ("bad-enum", '[endpoint]\nkind = "private"\n', "endpoint.kind", ""),
    ("unknown-key", '[machine]\nmin_replica = 1\n', "machine.min_replica", "min_replicas"),
]


@pytest.mark.parametrize(("body", "field", "fragment"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule(write_profile, profiles_dir: Path, body: str, field: str | None,
              fragment: str) -> None:
    problems = problems_for(write_profile, profiles_dir, body)
    if field is None:
        assert problems == []
        return
    matching = [p for p in problems if p.field == field]
    assert matching, f"no problem on {field}: {problems}"
    assert fragment in matching[0].message + matching[0].allowed
    assert matching[0].file == str(profiles_dir / "t.toml")


def test_enum_errors_list_allowed_values(write_profile, profiles_dir: Path) -> None:
    (problem,) = problems_for(write_profile, profiles_dir, '[endpoint]\nkind = "private"\n')
    assert problem.allowed == "public, dedicated, psc, vpc-peering"


def test_every_problem_is_reported_at_once(write_profile, profiles_dir: Path) -> None:
    body = ('[machine]\nmachine_type = "n1-standard-8"\naccelerator_type = "NVIDIA_TESLA_A100"\n'
            'accelerator_count = 1\nmin_replicas = 5\nmax_replicas = 2\n'
            '[alerts]\nduration_s = 61\n')
    fields = {p.field for p in problems_for(write_profile, profiles_dir, body)}
    assert {"machine.accelerator_type", "machine.min_replicas", "alerts.duration_s"} <= fields


def test_structural_problems_are_all_reported(write_profile, profiles_dir: Path) -> None:
    body = '[machine]\nmax_replicas = "many"\nspott = true\n[endpoint]\nkind = "x"\n'
    fields = {p.field for p in problems_for(write_profile, profiles_dir, body)}
    assert fields == {"machine.max_replicas", "machine.spott", "endpoint.kind"}


def test_problem_is_attributed_to_the_parent_file(write_profile, profiles_dir: Path) -> None:
    parent = write_profile("parent", GOOD_BASE + '[machine]\nmachine_type = "n1-standard-8"\n'
                           'accelerator_type = "NVIDIA_TESLA_A100"\naccelerator_count = 1\n')
    write_profile("child", 'extends = "parent"\n')
    with pytest.raises(ProfileError) as err:
        load_profile("child", profiles_dir, environ={})
    assert err.value.problems[0].file == str(parent)


def test_the_profiles_autocast_values_are_the_servers() -> None:
    import sys

    from vxdeploy.profile.rules import AUTOCAST_MODES

    common = str(Path(__file__).resolve().parents[2] / "containers" / "common")
    if common not in sys.path:
        sys.path.insert(0, common)
    from vxserve.config import AUTOCAST_MODES as SERVER_MODES

    assert AUTOCAST_MODES == SERVER_MODES
