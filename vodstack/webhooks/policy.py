"""What happens after one delivery attempt, as a pure function: done, retry when, or give up."""

from __future__ import annotations

import random
from dataclasses import dataclass

from vodstack.catalog.outbox import Attempt, Delivery, DeliveryState


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: float
    max_delay: float
    retry_for: float
    """Deliveries older than this are given up after their next failure."""

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(n-1))],
        so receivers that come back after an outage are not hit by every retry at once."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, failures - 1))
        return (rng or random).uniform(0.0, ceiling)


def succeeded(status: int | None) -> bool:
    """Any 2xx; redirects are not followed (a receiver must answer at its own URL)."""
    return status is not None and 200 <= status < 300


def after_attempt(
    delivery: Delivery, attempt: Attempt, policy: RetryPolicy, rng: random.Random | None = None
) -> tuple[Delivery, float]:
    """The delivery with `attempt` recorded, and the seconds until the next try (0 if none)."""
    if succeeded(attempt.status):
        return delivery.after(attempt, DeliveryState.DELIVERED, 0.0), 0.0
    age = attempt.at + attempt.duration - delivery.created_at
    if age >= policy.retry_for:
        return delivery.after(attempt, DeliveryState.FAILED, 0.0), 0.0
    delay = policy.delay(delivery.attempts + 1, rng)
    next_at = attempt.at + attempt.duration + delay
    return delivery.after(attempt, DeliveryState.PENDING, next_at), delay
