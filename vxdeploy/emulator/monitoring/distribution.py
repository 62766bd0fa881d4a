"""Latency distributions as Cloud Monitoring stores them: exponential buckets.

Percentiles computed from these buckets (as Monitoring's ALIGN_PERCENTILE_* does) are
exact only to the bucket width, so callers compare against bucket bounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NUM_FINITE_BUCKETS = 40
GROWTH_FACTOR = 1.3
SCALE = 1.0  # ms: bucket 1 is [1, 1.3) ms; bucket 40 ends near 36 s


def bucket_index(value: float) -> int:
    """0 = underflow (< SCALE), 1..N finite, N+1 = overflow."""
    if value < SCALE:
        return 0
    index = math.floor(math.log(value / SCALE, GROWTH_FACTOR)) + 1
    # Floating point can put an exact boundary one bucket off; settle it by the bounds.
    while index > 1 and value < lower_bound(index):
        index -= 1
    while index <= NUM_FINITE_BUCKETS and value >= lower_bound(index + 1):
        index += 1
    return min(index, NUM_FINITE_BUCKETS + 1)


def lower_bound(index: int) -> float:
    return 0.0 if index == 0 else SCALE * GROWTH_FACTOR ** (index - 1)


def upper_bound(index: int) -> float:
    return math.inf if index > NUM_FINITE_BUCKETS else SCALE * GROWTH_FACTOR**index


@dataclass
class Dist:
    """Count, sum, sum of squares and bucket counts: enough to merge and to answer."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (NUM_FINITE_BUCKETS + 2))

    @classmethod
    def of(cls, values: Iterable[float]) -> Dist:
        dist = cls()
        for value in values:
            dist.add(value)
        return dist

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.squares += value * value
        self.buckets[bucket_index(value)] += 1

    def merge(self, other: Dist) -> Dist:
        return Dist(
            self.count + other.count,
            self.total + other.total,
            self.squares + other.squares,
            [a + b for a, b in zip(self.buckets, other.buckets, strict=True)],
        )

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """Interpolated linearly inside the bucket that holds the q-th percentile."""
        if not self.count:
            return 0.0
        rank = q / 100.0 * self.count
        seen = 0
        for index, n in enumerate(self.buckets):
            if n and seen + n >= rank:
                lo = lower_bound(index)
                hi = upper_bound(index)
                if math.isinf(hi):
                    return lo
                return lo + (hi - lo) * max(0.0, rank - seen) / n
            seen += n
        return lower_bound(len(self.buckets) - 1)

    def to_pb(self) -> Any:
        from google.api import distribution_pb2

        ssd = max(0.0, self.squares - self.count * self.mean**2) if self.count else 0.0
        last = max((i for i, n in enumerate(self.buckets) if n), default=-1)
        return distribution_pb2.Distribution(
            count=self.count,
            mean=self.mean,
            sum_of_squared_deviation=ssd,
            bucket_options=distribution_pb2.Distribution.BucketOptions(
                exponential_buckets=distribution_pb2.Distribution.BucketOptions.Exponential(
                    num_finite_buckets=NUM_FINITE_BUCKETS,
                    growth_factor=GROWTH_FACTOR,
                    scale=SCALE,
                )
            ),
            # Trailing empty buckets are omitted, as Monitoring does.
            bucket_counts=self.buckets[: last + 1],
        )
