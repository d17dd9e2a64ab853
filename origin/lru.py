"""A least-recently-used map bounded at once by bytes, by open files and by entries.

A pure data structure (no I/O): whoever evicts is told through `on_evict`, so the cache of
`origin.objects` can close a file an evicted entry held.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Costed(Protocol):
    @property
    def memory_cost(self) -> int: ...

    @property
    def file_cost(self) -> int: ...


V = TypeVar("V", bound=Costed)


@dataclass(frozen=True, slots=True)
class Budget:
    memory_bytes: int
    files: int
    entries: int


class BoundedLRU(Generic[V]):
    def __init__(self, budget: Budget, on_evict: Callable[[str, V], None]) -> None:
        self.budget = budget
        self._on_evict = on_evict
        self._items: OrderedDict[str, V] = OrderedDict()
        self.memory_bytes = 0
        self.files = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def peek(self, key: str) -> V | None:
        """The value, without marking it as used."""
        return self._items.get(key)

    def touch(self, key: str) -> None:
        self._items.move_to_end(key)

    def put(self, key: str, value: V) -> bool:
        """Store `value` (replacing and evicting as needed); False if it can never fit."""
        if value.memory_cost > self.budget.memory_bytes or value.file_cost > self.budget.files:
            self.pop(key)
            return False
        self.pop(key)
        self._items[key] = value
        self.memory_bytes += value.memory_cost
        self.files += value.file_cost
        budget = self.budget
        while (
            self.memory_bytes > budget.memory_bytes
            or self.files > budget.files
            or len(self._items) > budget.entries
        ):
            oldest = next(iter(self._items))
            self._evict(oldest)
        return True

    def pop(self, key: str) -> V | None:
        """Remove `key` (its value is handed to `on_evict` like any eviction)."""
        if key not in self._items:
            return None
        return self._evict(key)

    def clear(self) -> None:
        for key in list(self._items):
            self._evict(key)

    def _evict(self, key: str) -> V:
        value = self._items.pop(key)
        self.memory_bytes -= value.memory_cost
        self.files -= value.file_cost
        self._on_evict(key, value)
        return value
