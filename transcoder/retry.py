"""Retry delays: exponential backoff with full jitter (pure)."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before the attempt after `attempt` (1 = the first one failed).

    Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], so workers that failed
    together (the store went down) do not all come back at the same instant.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(0.0, max(0.0, ceiling))
