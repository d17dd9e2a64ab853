"""Opening the embedded SQLite database the same way everywhere (WAL, busy timeout)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosqlite

from vodstack.errors import QueueUnavailable

BUSY_TIMEOUT_MS = 10_000


async def connect(path: str) -> aiosqlite.Connection:
    """A connection in autocommit mode; use `transaction()` for atomic read-modify-write."""
    if path != ":memory:":
        await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA synchronous=NORMAL")
    except aiosqlite.Error as exc:
        raise QueueUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
    db.row_factory = aiosqlite.Row
    return db


@contextlib.asynccontextmanager
async def transaction(db: aiosqlite.Connection, lock: asyncio.Lock) -> AsyncIterator[None]:
    """BEGIN IMMEDIATE … COMMIT, serialised within the process by `lock`."""
    async with lock:
        await db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            await asyncio.shield(db.execute("ROLLBACK"))
            raise
        else:
            await db.execute("COMMIT")


@contextlib.contextmanager
def unavailable_on_error(what: str) -> Iterator[None]:
    """Turn SQLite failures into QueueUnavailable with a readable message."""
    try:
        yield
    except aiosqlite.OperationalError as exc:
        raise QueueUnavailable(f"{what}: {exc}") from exc
