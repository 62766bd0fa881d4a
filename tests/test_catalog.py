"""The machine × accelerator table against the facts in vertex-reference.md §3."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxdeploy import catalog
from vxdeploy.errors import InvalidInputError


@pytest.mark.parametrize(("machine", "accelerator", "counts"), [
    ("n1-standard-4", catalog.T4, (1, 2, 4)),
    ("n1-standard-8", catalog.V100, (1, 2, 4, 8)),
    ("n1-highmem-16", catalog.V100, (2, 4, 8)),
    ("n1-standard-16", catalog.P100, (1, 2, 4)),
    ("n1-standard-32", catalog.T4, (2, 4)),
    ("n1-standard-32", catalog.V100, (4, 8)),
    ("a2-highgpu-8g", catalog.A100, (8,)),
    ("a2-megagpu-16g", catalog.A100, (16,)),
    ("a2-ultragpu-4g", catalog.A100_80GB, (4,)),
    ("a3-highgpu-2g", catalog.H100, (2,)),
    ("a3-ultragpu-8g", catalog.H200, (8,)),
    ("g2-standard-32", catalog.L4, (1,)),
    ("g2-standard-48", catalog.L4, (4,)),
    ("a4-highgpu-8g", catalog.B200, (8,)),
    ("g4-standard-192", catalog.RTX_PRO_6000, (4,)),
])
def test_allowed_counts(machine: str, accelerator: str, counts: tuple[int, ...]) -> None:
    assert catalog.MACHINE_TYPES[machine].allowed_accelerators()[accelerator] == counts


def test_a100_is_not_an_n1_addon() -> None:
    assert catalog.A100 not in catalog.MACHINE_TYPES["n1-standard-8"].allowed_accelerators()


def test_cpu_families_take_no_gpus() -> None:
    for name in ("e2-standard-4", "n2-standard-8", "n2d-highcpu-16", "c2-standard-8",
                 "c2d-standard-8", "c3-highcpu-8"):
        assert catalog.MACHINE_TYPES[name].allowed_accelerators() == {}


def test_default_machine_exists_and_catalog_is_dated() -> None:
    assert catalog.DEFAULT_MACHINE_TYPE in catalog.MACHINE_TYPES
    assert catalog.CHECKED_ON.count("-") == 2


def test_accelerators_match_the_sdk_enum() -> None:
    from google.cloud.aiplatform_v1.types import AcceleratorType

    names = {member.name for member in AcceleratorType}
    assert set(catalog.ACCELERATOR_TYPES) <= names


def test_price_override(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('region = "europe-west4"\nspot_fraction = 0.5\n'
                    '[accelerators]\nNVIDIA_TESLA_T4 = 1.0\n[families]\nn1 = [0.1, 0.0]\n')
    table = catalog.load_price_table(path)
    machine = catalog.MACHINE_TYPES["n1-standard-4"]
    assert table.region == "europe-west4"
    assert table.node_hourly(machine, catalog.T4, 2) == pytest.approx(0.4 + 2.0)
    assert table.node_hourly(machine, catalog.T4, 2, spot=True) == pytest.approx(1.2)


def test_price_override_rejects_unknown_accelerator(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[accelerators]\nNVIDIA_TESLA_T5 = 1.0\n')
    with pytest.raises(InvalidInputError, match=r"accelerators\.NVIDIA_TESLA_T5"):
        catalog.load_price_table(path)
