"""Monthly cost estimates from a profile's machines and a dated price table.

Pure arithmetic, so the numbers are reproducible and table-tested. Estimates show their
assumptions (hours per month, spot fraction, scale-to-zero activity) next to the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vxdeploy import catalog
from vxdeploy.profile.model import Profile
from vxdeploy.profile.rules import effective_accelerator

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class CostEstimate:
    machine_type: str
    accelerator_type: str
    accelerator_count: int
    spot: bool
    node_hourly_usd: float
    on_demand_node_hourly_usd: float
    min_replicas: int
    max_replicas: int
    monthly_at_min_usd: float
    monthly_at_max_usd: float
    scale_to_zero: bool
    active_fraction: float
    monthly_scale_to_zero_usd: float | None
    quota_vcpus_at_max: int
    quota_gpus_at_max: int
    prices_region: str
    prices_checked_on: str
    assumptions: list[str]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def estimate(profile: Profile, prices: catalog.PriceTable = catalog.DEFAULT_PRICES, *,
             active_fraction: float = 0.25) -> CostEstimate:
    """Cost at min and max replicas for a month; `active_fraction` models scale-to-zero."""
    machine = catalog.MACHINE_TYPES[profile.machine.machine_type]
    accelerator, count = effective_accelerator(profile)
    spot = profile.machine.spot
    on_demand = prices.node_hourly(machine, accelerator, count)
    hourly = prices.node_hourly(machine, accelerator, count, spot=spot)
    stz = profile.machine.scale_to_zero.enabled
    low, high = profile.machine.min_replicas, profile.machine.max_replicas
    assumptions = [f"{HOURS_PER_MONTH:g} hours a month",
                   f"list prices for {prices.region}, checked {prices.checked_on}"]
    if spot:
        assumptions.append(f"spot VMs at {prices.spot_fraction:.0%} of on-demand; they can be "
                           "preempted")
    stz_monthly = None
    if stz:
        stz_monthly = round(hourly * HOURS_PER_MONTH * active_fraction * max(low, 1), 2)
        assumptions.append(f"scale-to-zero: one replica up {active_fraction:.0%} of the time "
                           "(override with --active-fraction); $0 while idle at zero")
    return CostEstimate(
        machine_type=machine.name,
        accelerator_type=accelerator or "",
        accelerator_count=count if accelerator else 0,
        spot=spot,
        node_hourly_usd=round(hourly, 4),
        on_demand_node_hourly_usd=round(on_demand, 4),
        min_replicas=low,
        max_replicas=high,
        monthly_at_min_usd=round(hourly * HOURS_PER_MONTH * low, 2),
        monthly_at_max_usd=round(hourly * HOURS_PER_MONTH * high, 2),
        scale_to_zero=stz,
        active_fraction=active_fraction,
        monthly_scale_to_zero_usd=stz_monthly,
        quota_vcpus_at_max=high * machine.vcpus,
        quota_gpus_at_max=high * (count if accelerator else 0),
        prices_region=prices.region,
        prices_checked_on=prices.checked_on,
        assumptions=assumptions,
    )
