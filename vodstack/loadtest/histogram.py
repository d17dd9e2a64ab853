"""Latency histogram with bounded memory and a bounded relative error (pure).

Values fall into logarithmic buckets growing by `GROWTH` (1 %), so a percentile is known
to within 0.5 % of its value however many samples there are, in a few kB per histogram.
Exact count, sum, minimum and maximum are kept on the side.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

GROWTH = 1.01
SMALLEST = 1e-6
"""Values below one microsecond count as one microsecond."""
_LOG_GROWTH = math.log(GROWTH)


def bucket_of(value: float) -> int:
    return int(math.log(max(value, SMALLEST) / SMALLEST) / _LOG_GROWTH)


def bucket_value(bucket: int) -> float:
    """The geometric middle of a bucket: within GROWTH**0.5 of anything in it."""
    return SMALLEST * GROWTH ** (bucket + 0.5)


@dataclass
class Histogram:
    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = 0.0

    def add(self, value: float) -> None:
        self.buckets[bucket_of(value)] += 1
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def percentile(self, percent: float) -> float | None:
        """Nearest-rank percentile (the smallest value with `percent` % at or below it)."""
        if not 0 <= percent <= 100:
            raise ValueError("percent must be between 0 and 100")
        if not self.count:
            return None
        rank = max(1, math.ceil(percent / 100 * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(max(bucket_value(bucket), self.minimum), self.maximum)
        return self.maximum
