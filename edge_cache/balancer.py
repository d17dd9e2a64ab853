"""Choosing an upstream for a request (pure): least-connections, round-robin, weighted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

POLICIES = ("least-connections", "round-robin", "weighted")


@dataclass(eq=False)
class Target:
    """What the policies look at for one upstream."""

    name: str
    weight: int = 1
    active: int = 0
    """Requests in flight."""
    current_weight: int = field(default=0, repr=False)
    """State of smooth weighted round-robin."""


class Balancer:
    def __init__(self, policy: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown load-balancing policy {policy!r} (one of {POLICIES})")
        self.policy = policy
        self._next = 0

    def choose(self, candidates: Sequence[Target]) -> Target:
        """One of `candidates` (which must not be empty)."""
        if len(candidates) == 1:
            return candidates[0]
        if self.policy == "round-robin":
            self._next += 1
            return candidates[self._next % len(candidates)]
        if self.policy == "weighted":
            return self._smooth_weighted(candidates)
        # least-connections, relative to weight; ties go round-robin so idle pools spread.
        self._next += 1
        start = self._next % len(candidates)
        rotated = [*candidates[start:], *candidates[:start]]
        return min(rotated, key=lambda target: target.active / max(1, target.weight))

    @staticmethod
    def _smooth_weighted(candidates: Sequence[Target]) -> Target:
        """nginx's smooth weighted round-robin: even spread, proportional to weights."""
        total = 0
        best: Target | None = None
        for target in candidates:
            target.current_weight += max(1, target.weight)
            total += max(1, target.weight)
            if best is None or target.current_weight > best.current_weight:
                best = target
        assert best is not None
        best.current_weight -= total
        return best
