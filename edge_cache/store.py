"""Stored responses: one entry per URL and variant, kept in a byte-bounded LRU."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edge_cache.conditional import Validators
from edge_cache.lru import ByteLRU
from edge_cache.rules import ResponseFacts
from edge_cache.wire import StoredWire

# Rough bytes of the Python objects around one entry (dataclass, tuples, dict slots), so
# that many tiny responses cannot exceed the bound by their bookkeeping alone.
ENTRY_OVERHEAD = 512
# Removals remembered so that a fetch that started before one cannot store behind its back.
REMOVAL_HISTORY = 4096

Selecting = tuple[tuple[str, str | None], ...]
"""Normalised values of the request fields named in Vary, by field name (RFC 9111 §4.1)."""


@dataclass(eq=False, slots=True)
class Entry:
    """A complete stored response, ready to be sent again.

    `headers` are the end-to-end fields to send (no hop-by-hop fields, no Content-Length, no
    Age: those are computed when sending).
    """

    key: str
    selecting: Selecting
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    facts: ResponseFacts
    validators: Validators = field(init=False)
    size: int = field(init=False)
    wire: StoredWire | None = field(default=None, init=False, repr=False)
    """The header fields as bytes for the hit path (`edge_cache.wire`), made on first use."""

    def __post_init__(self) -> None:
        self.validators = Validators(
            etag=self.facts.etag,
            last_modified_time=(
                self.facts.last_modified_time
                if self.facts.last_modified_time is not None
                else self.facts.date_time
            ),
        )
        header_bytes = sum(len(name) + len(value) + 4 for name, value in self.headers)
        selecting_bytes = sum(len(name) + len(value or "") for name, value in self.selecting)
        self.size = (
            ENTRY_OVERHEAD + len(self.key) + selecting_bytes + header_bytes + len(self.body)
        )

    @property
    def variant(self) -> tuple[str, Selecting]:
        return (self.key, self.selecting)


def selecting_values(
    vary: tuple[str, ...], get_all: Callable[[str], list[str]]
) -> Selecting:
    """The request's values for the fields named in Vary (absent fields are None)."""
    from edge_cache.fields import normalise_field

    values: list[tuple[str, str | None]] = []
    for name in vary:
        lines = get_all(name)
        values.append((name, normalise_field(lines) if lines else None))
    return tuple(values)


class StoreListener(Protocol):
    """Told what the store keeps and drops on purpose (a multi-process edge passes it on to
    its other processes, `edge_cache.cluster.link`)."""

    def stored(self, entry: Entry) -> None: ...

    def removed(self, target: str, is_prefix: bool) -> None:
        """A purge or invalidation of `target` (an exact key, or a prefix)."""


class ResponseStore:
    """Entries by (URL, variant) in a `ByteLRU`, plus the variants known for each URL."""

    def __init__(self, capacity: int, max_object: int) -> None:
        self._lru: ByteLRU[tuple[str, Selecting], Entry] = ByteLRU(
            capacity, max_item=max_object, on_evict=self._forget
        )
        self._variants: dict[str, dict[tuple[str, Selecting], None]] = {}
        self.evictions = 0
        """Entries dropped to make room (not those removed on purpose)."""
        self._removing = False
        self.generation = 0
        """Counts purges and invalidations; a fetch notes it before asking the upstream."""
        self._removals: deque[tuple[int, str, bool]] = deque(maxlen=REMOVAL_HISTORY)
        self.listener: StoreListener | None = None

    @property
    def capacity(self) -> int:
        return self._lru.capacity

    @property
    def max_object(self) -> int:
        return self._lru.max_item

    @property
    def total_bytes(self) -> int:
        return self._lru.total

    def __len__(self) -> int:
        return len(self._lru)

    def _forget(self, variant: tuple[str, Selecting], entry: Entry) -> None:
        if not self._removing:
            self.evictions += 1
        variants = self._variants.get(variant[0])
        if variants is not None:
            variants.pop(variant, None)
            if not variants:
                del self._variants[variant[0]]

    def select(self, key: str, get_all: Callable[[str], list[str]]) -> Entry | None:
        """The most recent stored response whose selecting fields match the request."""
        variants = self._variants.get(key)
        if not variants:
            return None
        if len(variants) == 1 and (key, ()) in variants:
            return self._lru.get((key, ()))  # the usual case: no Vary
        best: Entry | None = None
        for variant in variants:
            entry = self._lru.peek(variant)
            if entry is None or entry.facts.vary is None:
                continue
            if selecting_values(entry.facts.vary, get_all) != entry.selecting:
                continue
            if best is None or entry.facts.response_time > best.facts.response_time:
                best = entry
        if best is not None:
            self._lru.get(best.variant)
        return best

    def removed_since(self, key: str, generation: int) -> bool:
        """Whether `key` was purged or invalidated after `generation` was noted.

        When the history no longer reaches back that far, the answer is yes (to be safe).
        """
        if generation >= self.generation:
            return False
        if not self._removals or self._removals[0][0] > generation + 1:
            return True
        for removed_at, target, is_prefix in reversed(self._removals):
            if removed_at <= generation:
                break
            if key == target or (is_prefix and key.startswith(target)):
                return True
        return False

    def _note_removal(self, target: str, is_prefix: bool) -> None:
        self.generation += 1
        self._removals.append((self.generation, target, is_prefix))

    def put(self, entry: Entry, since: int | None = None, *, share: bool = True) -> bool:
        """Store (or replace) the entry; False when it is larger than the object limit, or
        when its URL was purged after generation `since` (the answer may predate the purge:
        a video deleted while its segment was being fetched must not come back)."""
        if since is not None and self.removed_since(entry.key, since):
            self.remove(entry)
            return False
        if not self._lru.put(entry.variant, entry, entry.size):
            self.remove(entry)
            return False
        self._variants.setdefault(entry.key, {})[entry.variant] = None
        if share and self.listener is not None:
            self.listener.stored(entry)
        return True

    def reserve(self, size: int) -> None:
        """Count `size` bytes being read (not stored yet) against the capacity, evicting
        what must go to make room; `release` them once read."""
        self._lru.reserve(size)

    def release(self, size: int) -> None:
        self._lru.release(size)

    @property
    def reserved(self) -> int:
        return self._lru.reserved

    def peek(self, variant: tuple[str, Selecting]) -> Entry | None:
        """The entry stored for this variant, if any (recency untouched)."""
        return self._lru.peek(variant)

    def _pop(self, variant: tuple[str, Selecting]) -> None:
        self._removing = True
        try:
            self._lru.pop(variant)
        finally:
            self._removing = False

    def remove(self, entry: Entry) -> None:
        if self._lru.peek(entry.variant) is entry:
            self._pop(entry.variant)

    def remove_key(self, key: str, *, share: bool = True) -> int:
        """Drop every variant of one URL; returns how many entries went."""
        self._note_removal(key, is_prefix=False)
        if share and self.listener is not None:
            self.listener.removed(key, False)
        return self._drop(key)

    def _drop(self, key: str) -> int:
        variants = list(self._variants.get(key, ()))
        for variant in variants:
            self._pop(variant)
        return len(variants)

    def purge_prefix(self, prefix: str, *, share: bool = True) -> int:
        """Drop every entry whose URL (path and query) starts with `prefix`."""
        self._note_removal(prefix, is_prefix=True)
        if share and self.listener is not None:
            self.listener.removed(prefix, True)
        keys = [key for key in self._variants if key.startswith(prefix)]
        return sum(self._drop(key) for key in keys)
