"""The part ledger in the embedded SQLite database (see `ledger`).

Each write commits before the read that follows it, and SQLite serialises writers, so the
last part to be marked done always reads every part done.
"""

from __future__ import annotations

import time

import aiosqlite

from transcoder.chunked.ledger import DONE, RETENTION, PartsState
from vodstack.errors import QueueUnavailable
from vodstack.sqlite import connect, unavailable_on_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk_parts (
    video_id TEXT NOT NULL,
    version TEXT NOT NULL,
    part TEXT NOT NULL,
    percent REAL NOT NULL,
    done INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (video_id, version, part)
);
CREATE TABLE IF NOT EXISTS chunk_joins (
    video_id TEXT NOT NULL,
    version TEXT NOT NULL,
    job_id TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (video_id, version)
);
"""


class SqlitePartLedger:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    def __repr__(self) -> str:
        return f"SqlitePartLedger({self.path!r})"

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise QueueUnavailable("the part ledger is not started")
        return self._db

    async def start(self) -> None:
        self._db = await connect(self.path)
        with unavailable_on_error("creating the part ledger"):
            await self.db.executescript(SCHEMA)
            old = time.time() - RETENTION
            await self.db.execute("DELETE FROM chunk_parts WHERE updated_at < ?", (old,))
            await self.db.execute("DELETE FROM chunk_joins WHERE updated_at < ?", (old,))

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def state(self, video_id: str, version: str) -> PartsState:
        with unavailable_on_error("reading the part ledger"):
            rows = await self.db.execute_fetchall(
                "SELECT part, percent, done FROM chunk_parts WHERE video_id = ? AND version = ?",
                (video_id, version),
            )
        return PartsState(
            progress={row["part"]: DONE if row["done"] else row["percent"] for row in rows},
            done=frozenset(row["part"] for row in rows if row["done"]),
        )

    async def report(self, video_id: str, version: str, part: str, percent: float) -> PartsState:
        with unavailable_on_error("recording a part's progress"):
            await self.db.execute(
                "INSERT INTO chunk_parts (video_id, version, part, percent, done, updated_at)"
                " VALUES (?, ?, ?, ?, 0, ?)"
                " ON CONFLICT (video_id, version, part) DO UPDATE"
                " SET percent = excluded.percent, updated_at = excluded.updated_at"
                " WHERE done = 0",
                (video_id, version, part, percent, time.time()),
            )
        return await self.state(video_id, version)

    async def mark_done(self, video_id: str, version: str, part: str) -> PartsState:
        with unavailable_on_error("recording a finished part"):
            await self.db.execute(
                "INSERT INTO chunk_parts (video_id, version, part, percent, done, updated_at)"
                " VALUES (?, ?, ?, ?, 1, ?)"
                " ON CONFLICT (video_id, version, part) DO UPDATE"
                " SET percent = excluded.percent, done = 1, updated_at = excluded.updated_at",
                (video_id, version, part, DONE, time.time()),
            )
        return await self.state(video_id, version)

    async def claim_join(self, video_id: str, version: str, job_id: str) -> bool:
        with unavailable_on_error("claiming a join"):
            await self.db.execute(
                "INSERT OR IGNORE INTO chunk_joins (video_id, version, job_id, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (video_id, version, job_id, time.time()),
            )
            rows = await self.db.execute_fetchall(
                "SELECT job_id FROM chunk_joins WHERE video_id = ? AND version = ?",
                (video_id, version),
            )
        return any(row["job_id"] == job_id for row in rows)
