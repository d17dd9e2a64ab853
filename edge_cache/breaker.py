"""A circuit breaker per upstream (pure state machine; the caller passes the time).

closed --N consecutive failures--> open --cooldown elapsed--> half-open (one probe)
half-open --probe succeeds--> closed; --probe fails--> open again.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.state = State.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def available(self, now: float) -> bool:
        """Whether a request may go to this upstream now (without claiming a probe)."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            return now >= self.opened_at + self.cooldown
        return not self.probing

    def acquire(self, now: float) -> bool:
        """Claim the right to send one request; in half-open state only one probe at a time."""
        if self.state is State.OPEN and now >= self.opened_at + self.cooldown:
            self.state = State.HALF_OPEN
            self.probing = False
        if self.state is State.CLOSED:
            return True
        if self.state is State.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.state = State.CLOSED
        self.failures = 0
        self.probing = False

    def failure(self, now: float) -> None:
        self.probing = False
        if self.state is State.HALF_OPEN:
            self._open(now)
            return
        self.failures += 1
        if self.state is State.CLOSED and self.failures >= self.threshold:
            self._open(now)

    def release(self) -> None:
        """A probe ended without a verdict (e.g. the client went away)."""
        self.probing = False

    def _open(self, now: float) -> None:
        self.state = State.OPEN
        self.opened_at = now

    def retry_after(self, now: float) -> float:
        """Seconds until the next probe may be sent (0 when requests may go now)."""
        if self.state is State.OPEN:
            return max(0.0, self.opened_at + self.cooldown - now)
        return 0.0
