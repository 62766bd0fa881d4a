"""Vertex AI prediction machine types, accelerators and list prices, as data.

One table serves validation (which machine takes which accelerator, how many) and cost
estimates. It is hand-maintained from Google's documentation: `CHECKED_ON` says when, and
prices can be overridden from a TOML file because list prices drift and differ by region.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CHECKED_ON = "2026-11-21"
PRICES_CHECKED_ON = "2026-11-21"
PRICES_REGION = "us-central1"
DEFAULT_MACHINE_TYPE = "n1-standard-2"

# Vertex `AcceleratorType` enum names (aiplatform_v1.types.AcceleratorType).
P100 = "NVIDIA_TESLA_P100"
V100 = "NVIDIA_TESLA_V100"
P4 = "NVIDIA_TESLA_P4"
T4 = "NVIDIA_TESLA_T4"
A100 = "NVIDIA_TESLA_A100"
A100_80GB = "NVIDIA_A100_80GB"
L4 = "NVIDIA_L4"
H100 = "NVIDIA_H100_80GB"
H200 = "NVIDIA_H200_141GB"
B200 = "NVIDIA_B200"
RTX_PRO_6000 = "NVIDIA_RTX_PRO_6000"

# Regions where Vertex AI serves online prediction
# (cloud.google.com/vertex-ai/docs/general/locations). A region not listed here is refused
# before any call, with the closest names as a hint.
REGIONS: tuple[str, ...] = (
    # Americas
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2",
    "us-west3", "us-west4", "northamerica-northeast1", "northamerica-northeast2",
    "southamerica-east1", "southamerica-west1",
    # Europe
    "europe-central2", "europe-north1", "europe-southwest1", "europe-west1", "europe-west2",
    "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9",
    "europe-west10", "europe-west12",
    # Asia Pacific
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
    "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
    "australia-southeast1", "australia-southeast2",
    # Middle East, Africa
    "me-central1", "me-central2", "me-west1", "africa-south1",
)

ACCELERATOR_TYPES: tuple[str, ...] = (P100, V100, P4, T4, A100, A100_80GB, L4, H100, H200, B200,
                                      RTX_PRO_6000)
N1_ADDON_ACCELERATORS: tuple[str, ...] = (P100, V100, P4, T4)


@dataclass(frozen=True)
class MachineType:
    """One machine type and the accelerators it can carry for online prediction."""

    name: str
    vcpus: int
    memory_gib: float
    # GPUs built into the machine: the type fixes both kind and count.
    builtin_accelerator: str | None = None
    builtin_count: int = 0
    # Add-on GPUs (N1 only): accelerator -> allowed counts.
    addon_accelerators: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.name.split("-", 1)[0]

    def allowed_accelerators(self) -> dict[str, tuple[int, ...]]:
        """Every (accelerator -> counts) this machine type accepts."""
        if self.builtin_accelerator:
            return {self.builtin_accelerator: (self.builtin_count,)}
        return dict(self.addon_accelerators)


def _n1_addons(size: int) -> dict[str, tuple[int, ...]]:
    if size in (2, 4, 8):
        return {P100: (1, 2, 4), V100: (1, 2, 4, 8), P4: (1, 2, 4), T4: (1, 2, 4)}
    if size == 16:
        return {P100: (1, 2, 4), V100: (2, 4, 8), P4: (1, 2, 4), T4: (1, 2, 4)}
    if size == 32:
        return {P100: (2, 4), V100: (4, 8), P4: (2, 4), T4: (2, 4)}
    return {}


# (family, shape) -> GiB of memory per vCPU; sizes per shape. Only the machine types Vertex
# lists for prediction ("Configure compute resources for prediction",
# cloud.google.com/vertex-ai/docs/predictions/configure-compute): Compute Engine offers more
# (n1-standard-1, n1-standard-96…) that a deploy would refuse.
_CPU_SHAPES: dict[tuple[str, str], tuple[float, tuple[int, ...]]] = {
    ("e2", "standard"): (4.0, (2, 4, 8, 16, 32)),
    ("e2", "highmem"): (8.0, (2, 4, 8, 16)),
    ("e2", "highcpu"): (1.0, (2, 4, 8, 16, 32)),
    # N1 for prediction stops at 32 vCPUs and has no n1-standard-1 or n1-highcpu-2.
    ("n1", "standard"): (3.75, (2, 4, 8, 16, 32)),
    ("n1", "highmem"): (6.5, (2, 4, 8, 16, 32)),
    ("n1", "highcpu"): (0.9, (4, 8, 16, 32)),
    ("n2", "standard"): (4.0, (2, 4, 8, 16, 32, 48, 64, 80)),
    ("n2", "highmem"): (8.0, (2, 4, 8, 16, 32, 48, 64, 80)),
    ("n2", "highcpu"): (1.0, (2, 4, 8, 16, 32, 48, 64, 80)),
    ("n2d", "standard"): (4.0, (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224)),
    ("n2d", "highmem"): (8.0, (2, 4, 8, 16, 32, 48, 64, 80, 96)),
    ("n2d", "highcpu"): (1.0, (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224)),
    ("c2", "standard"): (4.0, (4, 8, 16, 30, 60)),
    ("c2d", "standard"): (4.0, (2, 4, 8, 16, 32, 56, 112)),
    ("c2d", "highmem"): (8.0, (2, 4, 8, 16, 32, 56, 112)),
    ("c2d", "highcpu"): (2.0, (2, 4, 8, 16, 32, 56, 112)),
    ("c3", "highcpu"): (2.0, (4, 8, 22, 44, 88, 176)),
}

# name -> (vCPUs, GiB, accelerator, count) for machines with built-in GPUs.
_GPU_MACHINES: dict[str, tuple[int, float, str, int]] = {
    "a2-highgpu-1g": (12, 85, A100, 1),
    "a2-highgpu-2g": (24, 170, A100, 2),
    "a2-highgpu-4g": (48, 340, A100, 4),
    "a2-highgpu-8g": (96, 680, A100, 8),
    "a2-megagpu-16g": (96, 1360, A100, 16),
    "a2-ultragpu-1g": (12, 170, A100_80GB, 1),
    "a2-ultragpu-2g": (24, 340, A100_80GB, 2),
    "a2-ultragpu-4g": (48, 680, A100_80GB, 4),
    "a2-ultragpu-8g": (96, 1360, A100_80GB, 8),
    "a3-highgpu-1g": (26, 234, H100, 1),
    "a3-highgpu-2g": (52, 468, H100, 2),
    "a3-highgpu-4g": (104, 936, H100, 4),
    "a3-highgpu-8g": (208, 1872, H100, 8),
    "a3-ultragpu-8g": (224, 2952, H200, 8),
    "g2-standard-4": (4, 16, L4, 1),
    "g2-standard-8": (8, 32, L4, 1),
    "g2-standard-12": (12, 48, L4, 1),
    "g2-standard-16": (16, 64, L4, 1),
    "g2-standard-24": (24, 96, L4, 2),
    "g2-standard-32": (32, 128, L4, 1),
    "g2-standard-48": (48, 192, L4, 4),
    "g2-standard-96": (96, 384, L4, 8),
    "a4-highgpu-8g": (224, 3968, B200, 8),
    "g4-standard-48": (48, 180, RTX_PRO_6000, 1),
    "g4-standard-96": (96, 360, RTX_PRO_6000, 2),
    "g4-standard-192": (192, 720, RTX_PRO_6000, 4),
    "g4-standard-384": (384, 1440, RTX_PRO_6000, 8),
}


def _build_machine_types() -> dict[str, MachineType]:
    table: dict[str, MachineType] = {}
    for (family, shape), (gib_per_vcpu, sizes) in _CPU_SHAPES.items():
        for size in sizes:
            name = f"{family}-{shape}-{size}"
            addons = _n1_addons(size) if family == "n1" else {}
            table[name] = MachineType(name, size, round(size * gib_per_vcpu, 2),
                                      addon_accelerators=addons)
    for name, (vcpus, gib, accelerator, count) in _GPU_MACHINES.items():
        table[name] = MachineType(name, vcpus, gib, builtin_accelerator=accelerator,
                                  builtin_count=count)
    return table


MACHINE_TYPES: dict[str, MachineType] = _build_machine_types()

def machine_type_summary() -> str:
    """Every prediction machine type, compactly: `n1-standard-{2,4,8,16,32}, …`."""
    groups: dict[str, list[str]] = {}
    for name in MACHINE_TYPES:
        prefix, _, size = name.rpartition("-")
        groups.setdefault(prefix, []).append(size)
    return ", ".join(f"{prefix}-{{{','.join(sizes)}}}" if len(sizes) > 1 else
                     f"{prefix}-{sizes[0]}" for prefix, sizes in groups.items())


# Which machine families carry each accelerator: used to say what to pick instead.
ACCELERATOR_HOMES: dict[str, str] = {
    P100: "n1-standard-*/n1-highmem-*/n1-highcpu-* (add-on)",
    V100: "n1-standard-*/n1-highmem-*/n1-highcpu-* (add-on)",
    P4: "n1-standard-*/n1-highmem-*/n1-highcpu-* (add-on)",
    T4: "n1-standard-*/n1-highmem-*/n1-highcpu-* (add-on)",
    A100: "a2-highgpu-{1,2,4,8}g, a2-megagpu-16g",
    A100_80GB: "a2-ultragpu-{1,2,4,8}g",
    L4: "g2-standard-{4,8,12,16,24,32,48,96}",
    H100: "a3-highgpu-{1,2,4,8}g",
    H200: "a3-ultragpu-8g",
    B200: "a4-highgpu-8g",
    RTX_PRO_6000: "g4-standard-{48,96,192,384}",
}


@dataclass(frozen=True)
class PriceTable:
    """Hourly list prices (USD) for Vertex online prediction nodes."""

    region: str
    checked_on: str
    # family -> (per vCPU hour, per GiB hour)
    family_rates: dict[str, tuple[float, float]]
    accelerator_rates: dict[str, float]
    # fraction of the on-demand price that spot VMs cost
    spot_fraction: float = 0.35

    def node_hourly(self, machine: MachineType, accelerator: str | None, count: int,
                    *, spot: bool = False) -> float:
        """Price of one replica for one hour."""
        vcpu_rate, gib_rate = self.family_rates.get(machine.family, self.family_rates["n1"])
        price = machine.vcpus * vcpu_rate + machine.memory_gib * gib_rate
        if accelerator and count:
            price += count * self.accelerator_rates.get(accelerator, 0.0)
        return price * (self.spot_fraction if spot else 1.0)


# Approximate us-central1 Vertex AI prediction list prices (Compute Engine rates plus the
# Vertex management premium), in USD per hour.
DEFAULT_PRICES = PriceTable(
    region=PRICES_REGION,
    checked_on=PRICES_CHECKED_ON,
    family_rates={
        "e2": (0.025083, 0.003361),
        "n1": (0.036353, 0.004873),
        "n2": (0.036353, 0.004873),
        "n2d": (0.031627, 0.004239),
        "c2": (0.039077, 0.005233),
        "c2d": (0.033997, 0.004553),
        "c3": (0.039848, 0.004529),
        "a2": (0.036353, 0.004873),
        "a3": (0.036353, 0.004873),
        "a4": (0.036353, 0.004873),
        "g2": (0.028328, 0.003319),
        "g4": (0.028328, 0.003319),
    },
    accelerator_rates={
        T4: 0.4025,
        P4: 0.69,
        P100: 1.679,
        V100: 2.852,
        A100: 3.3741,
        A100_80GB: 4.5182,
        L4: 0.6720,
        H100: 11.0604,
        H200: 12.6474,
        B200: 14.9000,
        RTX_PRO_6000: 3.1500,
    },
)


def load_price_table(path: Path) -> PriceTable:
    """Read a price override file; unspecified entries keep the defaults.

    The file has optional `region`, `checked_on`, `spot_fraction`, a `[families]` table of
    `family = [per_vcpu_hour, per_gib_hour]` and an `[accelerators]` table of hourly prices.
    """
    from vxdeploy.errors import InvalidInputError

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read price table: {exc}") from exc
    families = dict(DEFAULT_PRICES.family_rates)
    for family, rates in data.get("families", {}).items():
        if not (isinstance(rates, list) and len(rates) == 2):
            raise InvalidInputError(
                f"{path}: families.{family}: expected [per_vcpu_hour, per_gib_hour]")
        families[family] = (float(rates[0]), float(rates[1]))
    accelerators = dict(DEFAULT_PRICES.accelerator_rates)
    for name, rate in data.get("accelerators", {}).items():
        if name not in ACCELERATOR_TYPES:
            raise InvalidInputError(f"{path}: accelerators.{name}: unknown accelerator; "
                                    f"allowed: {', '.join(ACCELERATOR_TYPES)}")
        accelerators[name] = float(rate)
    return PriceTable(
        region=str(data.get("region", DEFAULT_PRICES.region)),
        checked_on=str(data.get("checked_on", f"override from {path}")),
        family_rates=families,
        accelerator_rates=accelerators,
        spot_fraction=float(data.get("spot_fraction", DEFAULT_PRICES.spot_fraction)),
    )
