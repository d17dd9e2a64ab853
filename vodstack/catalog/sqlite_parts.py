"""What the SQLite-backed parts of the catalogue (uploads, keys, outbox) share with it."""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiosqlite


class SqliteHandle(Protocol):
    """The catalogue's connection and its in-process write lock (for `transaction`)."""

    @property
    def db(self) -> aiosqlite.Connection: ...

    @property
    def write_lock(self) -> asyncio.Lock: ...
