"""Collapsed forwarding: concurrent misses for one key share one upstream request.

The first request for a key becomes the leader and fetches; the others wait (bounded by a
timeout) for what the leader publishes: a stored entry they can be answered from, or None,
after which each fetches on its own (an uncacheable answer — `private`, `no-store`, a
non-matching `Vary` — must not be handed to other clients).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _Lead(Generic[T]):
    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: T | None = None


class Flight(Generic[T]):
    __slots__ = ("_future", "waiters")

    def __init__(self) -> None:
        self._future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self.waiters = 0

    async def wait(self, patience: float) -> T | None:
        """The leader's result, or None on timeout or when the leader had nothing to share."""
        self.waiters += 1
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), patience)
        except TimeoutError:
            return None

    def publish(self, result: T | None) -> None:
        if not self._future.done():
            self._future.set_result(result)


class Collapser(Generic[T]):
    """In-flight fetches by key, and keys recently found uncacheable ("hit-for-pass")."""

    def __init__(self, pass_ttl: float = 10.0, pass_capacity: int = 10_000) -> None:
        self._flights: dict[Hashable, Flight[T]] = {}
        self._pass_until: OrderedDict[Hashable, float] = OrderedDict()
        self.pass_ttl = pass_ttl
        self.pass_capacity = pass_capacity

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: Hashable) -> tuple[Flight[T], bool]:
        """(flight, True) for the leader who must fetch, (flight, False) for a waiter."""
        flight = self._flights.get(key)
        if flight is not None:
            return flight, False
        flight = Flight()
        self._flights[key] = flight
        return flight, True

    def finish(self, key: Hashable, flight: Flight[T], result: T | None) -> None:
        """Called by the leader exactly once (in a finally), whatever happened."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        flight.publish(result)

    @contextlib.contextmanager
    def lead(self, key: Hashable, flight: Flight[T]) -> Iterator[_Lead[T]]:
        """Leader block: whatever `lead.result` holds at the end is published to the waiters."""
        lead: _Lead[T] = _Lead()
        try:
            yield lead
        finally:
            self.finish(key, flight, lead.result)

    def mark_uncacheable(self, key: Hashable, now: float) -> None:
        self._pass_until[key] = now + self.pass_ttl
        self._pass_until.move_to_end(key)
        while len(self._pass_until) > self.pass_capacity:
            self._pass_until.popitem(last=False)

    def clear_uncacheable(self, key: Hashable) -> None:
        self._pass_until.pop(key, None)

    def is_uncacheable(self, key: Hashable, now: float) -> bool:
        until = self._pass_until.get(key)
        if until is None:
            return False
        if until < now:
            del self._pass_until[key]
            return False
        return True
