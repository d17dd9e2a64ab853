"""Each simulated player's network bandwidth, from a `--bandwidth` spec (pure).

    8M           every player has 8 Mbit/s
    2M-20M       each player draws from 2 to 20 Mbit/s, log-uniformly (as many players
                 between 2 and 4 as between 10 and 20: closer to real audiences than a
                 uniform draw)
    unlimited    no limit: players read as fast as the server and the machine allow
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}
_RATE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:bps|bit/s|b/s)?\s*")
DEFAULT_SPEC = "2M-20M"


def parse_rate(text: str) -> float:
    """`8M`, `500k`, `1.5G`, `2000000` (bits per second)."""
    match = _RATE_RE.fullmatch(text)
    if not match:
        raise ValueError(f"not a bit rate: {text!r} (examples: 500k, 8M, 1.5G)")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value <= 0:
        raise ValueError(f"a bit rate must be above 0, got {text!r}")
    return value


@dataclass(frozen=True)
class BandwidthSpec:
    low: float | None
    """Bits/s; None for unlimited."""
    high: float | None

    @classmethod
    def parse(cls, text: str) -> BandwidthSpec:
        cleaned = text.strip().lower()
        if cleaned in {"unlimited", "none", "0"}:
            return cls(None, None)
        low_text, dash, high_text = cleaned.partition("-")
        low = parse_rate(low_text)
        high = parse_rate(high_text) if dash else low
        if high < low:
            raise ValueError(f"bandwidth range {text!r} goes from high to low")
        return cls(low, high)

    @property
    def unlimited(self) -> bool:
        return self.low is None

    def draw(self, rng: random.Random) -> float | None:
        """One player's bandwidth in bits/s (None: unlimited)."""
        if self.low is None or self.high is None:
            return None
        if self.high == self.low:
            return self.low
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def describe(self) -> str:
        if self.low is None or self.high is None:
            return "unlimited"
        if self.low == self.high:
            return format_rate(self.low)
        return f"{format_rate(self.low)}-{format_rate(self.high)} (log-uniform)"


def format_rate(bits_per_second: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bits_per_second >= size:
            return f"{bits_per_second / size:g}{unit}bit/s"
    return f"{bits_per_second:g}bit/s"
