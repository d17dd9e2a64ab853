"""The part ledger: which parts of a chunked transcode are done, and how far the others are.

It lives beside the queue and the catalogue (SQLite embedded, Redis distributed), keyed by
video and version. Two guarantees carry the design:

- `mark_done` records the part and returns the state *after* it in one step, so whichever
  part completes the set sees it complete (two parts finishing at once cannot both miss
  it). A part that runs again (at-least-once delivery) sees it complete too, and queues
  the join again: joins are deduplicated by `claim_join`, not by counting.
- `claim_join` lets one join job (by job id) own the joining of a version; the same job
  running again keeps its claim, a duplicate join job finds it taken and does nothing.

Entries are kept a week, like finished job records, then expire (Redis) or are swept when
a worker opens the ledger (SQLite).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from vodstack.settings import Settings, SettingsError

RETENTION = 7 * 24 * 3600
DONE = 100.0


@dataclass(frozen=True)
class PartsState:
    progress: dict[str, float] = field(default_factory=dict)
    """Percent of each part that reported; a done part is at 100."""
    done: frozenset[str] = frozenset()

    def complete(self, parts: tuple[str, ...]) -> bool:
        return set(parts) <= self.done


class PartLedger(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def report(self, video_id: str, version: str, part: str, percent: float) -> PartsState:
        """Record a running part's progress; the state of every part afterwards."""

    async def mark_done(self, video_id: str, version: str, part: str) -> PartsState:
        """Record a part as done (its outputs are all stored); the state afterwards."""

    async def state(self, video_id: str, version: str) -> PartsState: ...

    async def claim_join(self, video_id: str, version: str, job_id: str) -> bool:
        """True if job `job_id` holds (or now takes) the joining of this version."""


def open_ledger(settings: Settings) -> PartLedger:
    """The ledger beside `settings.queue_url` (not started yet: call `start()`)."""
    url = settings.queue_url
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from transcoder.chunked.ledger_sqlite import SqlitePartLedger
        from vodstack.queue import sqlite_path

        return SqlitePartLedger(sqlite_path(url))
    if scheme in {"redis", "rediss"}:
        from transcoder.chunked.ledger_redis import RedisPartLedger

        return RedisPartLedger.from_url(url, settings)
    raise SettingsError(f"unknown queue URL scheme {scheme!r} in {url!r}")


class LazyLedger:
    """Opens the ledger on first use (only workers that run chunked jobs need it)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ledger: PartLedger | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> PartLedger:
        async with self._lock:
            if self._ledger is None:
                ledger = open_ledger(self._settings)
                await ledger.start()
                self._ledger = ledger
            return self._ledger

    async def close(self) -> None:
        async with self._lock:
            ledger, self._ledger = self._ledger, None
            if ledger is not None:
                await ledger.close()
