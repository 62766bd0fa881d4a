"""Cost arithmetic: per replica-hour times 730 hours, spot discount, scale-to-zero activity."""

from __future__ import annotations

import pytest

from vxdeploy import catalog
from vxdeploy.cost import HOURS_PER_MONTH, estimate
from vxdeploy.profile.model import Profile

PRICES = catalog.PriceTable(region="r", checked_on="2026-01-01",
                            family_rates={"n1": (0.1, 0.01), "a2": (0.2, 0.0)},
                            accelerator_rates={catalog.T4: 1.0, catalog.A100: 3.0},
                            spot_fraction=0.4)


def profile(**machine: object) -> Profile:
    return Profile.model_validate({"machine": machine})


def test_cpu_machine_min_and_max() -> None:
    result = estimate(profile(machine_type="n1-standard-4", min_replicas=1, max_replicas=3),
                      PRICES)
    hourly = 4 * 0.1 + 15 * 0.01
    assert result.node_hourly_usd == pytest.approx(hourly)
    assert result.monthly_at_min_usd == pytest.approx(round(hourly * HOURS_PER_MONTH, 2))
    assert result.monthly_at_max_usd == pytest.approx(round(3 * hourly * HOURS_PER_MONTH, 2))
    assert (result.quota_vcpus_at_max, result.quota_gpus_at_max) == (12, 0)


def test_builtin_gpu_and_spot() -> None:
    result = estimate(profile(machine_type="a2-highgpu-2g", min_replicas=1, max_replicas=2,
                              spot=True), PRICES)
    on_demand = 24 * 0.2 + 2 * 3.0
    assert result.on_demand_node_hourly_usd == pytest.approx(on_demand)
    assert result.node_hourly_usd == pytest.approx(on_demand * 0.4)
    assert result.accelerator_type == catalog.A100 and result.accelerator_count == 2
    assert result.quota_gpus_at_max == 4
    assert any("spot" in line for line in result.assumptions)


def test_scale_to_zero_costs_nothing_idle() -> None:
    p = Profile.model_validate({
        "endpoint": {"kind": "dedicated"},
        "machine": {"machine_type": "n1-standard-4", "accelerator_type": catalog.T4,
                    "accelerator_count": 1, "min_replicas": 0, "max_replicas": 2,
                    "scale_to_zero": {"enabled": True}}})
    result = estimate(p, PRICES, active_fraction=0.5)
    hourly = 4 * 0.1 + 15 * 0.01 + 1.0
    assert result.monthly_at_min_usd == 0
    assert result.monthly_scale_to_zero_usd == pytest.approx(round(hourly * 730 * 0.5, 2))
