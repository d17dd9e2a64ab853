"""A least-recently-used map bounded by the bytes of its values, not their number."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    """Values carry a size in bytes; the total never exceeds `capacity`.

    `put` evicts least recently used entries until the new one fits and refuses (returns
    False) a value larger than `max_item`. `on_evict(key, value)` is called for every entry
    that leaves because of the bound or a `pop`/`clear` (not when it is replaced by `put`).
    Operations are O(1) apart from eviction, which is O(entries evicted).
    """

    __slots__ = ("_data", "_on_evict", "capacity", "max_item", "reserved", "total")

    def __init__(
        self,
        capacity: int,
        *,
        max_item: int | None = None,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.max_item = capacity if max_item is None else min(max_item, capacity)
        self.total = 0
        self.reserved = 0
        """Bytes promised to values on their way in (`reserve`): they count against the
        capacity too."""
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def keys(self) -> Iterator[K]:
        """Keys from least to most recently used (a snapshot: safe to mutate while iterating)."""
        return iter(list(self._data))

    def get(self, key: K) -> V | None:
        """The value, marked most recently used; None when absent."""
        item = self._data.get(key)
        if item is None:
            return None
        self._data.move_to_end(key)
        return item[0]

    def peek(self, key: K) -> V | None:
        """The value without touching its recency."""
        item = self._data.get(key)
        return None if item is None else item[0]

    def put(self, key: K, value: V, size: int) -> bool:
        """Store `value` as most recently used; False (and nothing stored) when it is too big."""
        if size > self.max_item:
            return False
        old = self._data.pop(key, None)
        if old is not None:
            self.total -= old[1]
        self._data[key] = (value, size)
        self.total += size
        self._evict()
        return True

    def reserve(self, size: int) -> None:
        """Make room for `size` more bytes that are not stored yet (evicting as `put`)."""
        self.reserved += size
        self._evict()

    def release(self, size: int) -> None:
        self.reserved = max(0, self.reserved - size)

    def _evict(self) -> None:
        # The most recent entry always stays (it fits: max_item <= capacity), even when
        # reservations alone fill the capacity.
        while self.total + self.reserved > self.capacity and len(self._data) > 1:
            evicted_key, (evicted, evicted_size) = self._data.popitem(last=False)
            self.total -= evicted_size
            if self._on_evict is not None:
                self._on_evict(evicted_key, evicted)

    def pop(self, key: K) -> V | None:
        item = self._data.pop(key, None)
        if item is None:
            return None
        self.total -= item[1]
        if self._on_evict is not None:
            self._on_evict(key, item[0])
        return item[0]

    def clear(self) -> None:
        for key in list(self._data):
            self.pop(key)
