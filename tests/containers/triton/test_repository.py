"""The generated Triton model repository and `container = "triton"` as a known container."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "containers" / "triton"))
sys.path.insert(0, str(ROOT / "containers" / "common"))

from vxtriton.repository import RepositoryError, generate  # noqa: E402

ARTIFACTS = ROOT / "examples" / "sentiment" / "artifacts" / "torchscript"


def test_config_carries_dynamic_batching_and_instance_groups(tmp_path: Path) -> None:
    env = {"VXSERVE_TRITON_MAX_BATCH_SIZE": "16", "VXSERVE_TRITON_PREFERRED_BATCH_SIZES": "4,16",
           "VXSERVE_TRITON_MAX_QUEUE_DELAY_US": "500", "VXSERVE_TRITON_INSTANCE_COUNT": "2"}
    folder = generate(ARTIFACTS, tmp_path, env)
    config = (folder / "config.pbtxt").read_text()
    assert "max_batch_size: 16" in config
    assert "preferred_batch_size: [ 4, 16 ]" in config
    assert "max_queue_delay_microseconds: 500" in config
    assert "count: 2 kind: KIND_CPU" in config
    assert 'data_type: TYPE_INT64 dims: [ -1 ]' in config
    assert (folder / "1" / "model.py").is_file()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [("VXSERVE_TRITON_PREFERRED_BATCH_SIZES", "64", "outside 1..32"),
     ("VXSERVE_TRITON_MAX_BATCH_SIZE", "many", "not an integer"),
     ("VXSERVE_TRITON_INSTANCE_KIND", "tpu", "KIND_CPU, KIND_GPU")],
)
def test_bad_setting_names_the_variable(tmp_path: Path, name: str, value: str, words: str) -> None:
    with pytest.raises(RepositoryError, match=name) as caught:
        generate(ARTIFACTS, tmp_path, {name: value})
    assert words in str(caught.value)


def test_triton_is_a_profile_container_with_a_process_manifest() -> None:
    from vxdeploy.emulator.runtime.manifest import load_manifest
    from vxdeploy.emulator.runtime.spec import CONTAINERS
    from vxdeploy.profile.model import ContainerKind

    assert ContainerKind("triton") is ContainerKind.TRITON
    assert "triton" in CONTAINERS
    manifest = load_manifest("triton")
    assert manifest.command[1:] == ["-m", "vxtriton"]


def test_small_max_batch_keeps_only_preferred_sizes_that_fit(tmp_path: Path) -> None:
    config = (generate(ARTIFACTS, tmp_path, {"VXSERVE_TRITON_MAX_BATCH_SIZE": "4"})
              / "config.pbtxt").read_text()
    assert "max_batch_size: 4" in config
    assert "preferred_batch_size" not in config  # 8, 16, 32 do not fit; Triton picks
    assert "max_queue_delay_microseconds: 2000" in config
