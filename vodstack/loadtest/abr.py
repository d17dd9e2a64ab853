"""Rendition choice from measured throughput, the way hls.js does it (pure).

hls.js keeps two exponentially weighted moving averages of segment download throughput,
weighted by how long each download took: a fast one (half-life 3 s of download time) and
a slow one (9 s), and trusts the lower of the two. It switches up only to a rendition whose
BANDWIDTH is at most 70 % of that estimate, and keeps (or drops to) one within 95 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

FAST_HALF_LIFE = 3.0
SLOW_HALF_LIFE = 9.0
UP_FACTOR = 0.7
"""A higher rendition needs BANDWIDTH <= estimate * UP_FACTOR (hls.js abrBandWidthUpFactor)."""
DOWN_FACTOR = 0.95
"""The current or a lower one needs BANDWIDTH <= estimate * DOWN_FACTOR (abrBandWidthFactor)."""
DEFAULT_ESTIMATE = 500_000.0
"""Bits/s assumed before any download was measured (hls.js abrEwmaDefaultEstimate)."""
MIN_SAMPLE_BYTES = 16_000
"""Smaller downloads say more about latency than about throughput; they are not sampled."""


@dataclass
class Ewma:
    """An EWMA whose weight is time: a sample lasting `half_life` seconds counts for half."""

    half_life: float
    estimate_: float = 0.0
    total_weight: float = 0.0
    alpha: float = field(init=False)

    def __post_init__(self) -> None:
        self.alpha = math.exp(math.log(0.5) / self.half_life)

    def sample(self, weight: float, value: float) -> None:
        adjusted = self.alpha**weight
        self.estimate_ = value * (1 - adjusted) + adjusted * self.estimate_
        self.total_weight += weight

    def estimate(self) -> float:
        """The average, corrected for having started from zero."""
        zero_factor = 1 - self.alpha**self.total_weight
        return self.estimate_ / zero_factor if zero_factor > 0 else 0.0


@dataclass
class BandwidthEstimator:
    """Throughput estimate in bits/s from segment downloads."""

    default: float = DEFAULT_ESTIMATE
    fast: Ewma = field(default_factory=lambda: Ewma(FAST_HALF_LIFE))
    slow: Ewma = field(default_factory=lambda: Ewma(SLOW_HALF_LIFE))
    samples: int = 0

    def sample(self, seconds: float, size: int) -> None:
        """One download of `size` bytes that took `seconds` (request sent to last byte)."""
        if size < MIN_SAMPLE_BYTES or seconds <= 0:
            return
        seconds = max(seconds, 0.001)
        bits_per_second = size * 8 / seconds
        self.fast.sample(seconds, bits_per_second)
        self.slow.sample(seconds, bits_per_second)
        self.samples += 1

    def estimate(self) -> float:
        if self.samples == 0:
            return self.default
        return min(self.fast.estimate(), self.slow.estimate())


def choose_variant(
    bandwidths: Sequence[int],
    estimate: float,
    current: int | None,
    *,
    up_factor: float = UP_FACTOR,
    down_factor: float = DOWN_FACTOR,
) -> int:
    """Index of the rendition to fetch next, among `bandwidths` sorted lowest first.

    `current` is the index playing now (None before the first choice, when every rendition
    counts as a switch up). The lowest rendition is the answer when nothing fits.
    """
    if not bandwidths:
        raise ValueError("no renditions to choose from")
    for index in range(len(bandwidths) - 1, -1, -1):
        factor = up_factor if current is None or index > current else down_factor
        if bandwidths[index] <= estimate * factor:
            return index
    return 0
