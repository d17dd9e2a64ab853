"""Job queue in the embedded SQLite database (one machine, any number of processes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from typing import Any

import aiosqlite

from vodstack.errors import QueueUnavailable
from vodstack.queue.base import Job
from vodstack.sqlite import connect, unavailable_on_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    video_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,            -- queued | leased | done | failed | cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at REAL NOT NULL,
    lease_token TEXT,
    lease_owner TEXT,
    lease_expires REAL,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs (state, run_at);
CREATE INDEX IF NOT EXISTS jobs_video ON jobs (video_id);
"""

POLL_INTERVAL = 0.5
CHANGE_POLL = 0.05
"""How often a waiting lease looks whether another connection (another process: an ingest
enqueuing) committed something, with `PRAGMA data_version`: a counter read that takes no
lock, so a job enqueued elsewhere is leased within this much rather than `POLL_INTERVAL`.
An enqueue in the same process wakes the lease at once."""


class SqliteQueue:
    """Leases are rows with a token and an expiry; an expired lease is simply leasable again."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._wakeup = asyncio.Event()

    def __repr__(self) -> str:
        return f"SqliteQueue({self.path!r})"

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise QueueUnavailable("queue is not started")
        return self._db

    async def start(self) -> None:
        self._db = await connect(self.path)
        with unavailable_on_error("creating the jobs table"):
            await self.db.executescript(SCHEMA)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def check(self) -> None:
        with unavailable_on_error("queue check"):
            await self.db.execute_fetchall("SELECT 1")

    async def enqueue(self, video_id: str, payload: dict[str, Any], *, max_attempts: int) -> str:
        job_id = uuid.uuid4().hex
        now = time.time()
        with unavailable_on_error("enqueue"):
            await self.db.execute(
                "INSERT INTO jobs (id, video_id, payload, state, max_attempts, run_at,"
                " created_at, updated_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                (job_id, video_id, json.dumps(payload), max_attempts, now, now, now),
            )
        self._wakeup.set()
        return job_id

    async def _try_lease(self, worker_id: str, visibility_timeout: float) -> Job | None:
        now = time.time()
        token = secrets.token_hex(8)
        with unavailable_on_error("lease"):
            rows = await self.db.execute_fetchall(
                "UPDATE jobs SET state = 'leased', lease_token = ?, lease_owner = ?,"
                " lease_expires = ?, attempts = attempts + 1, updated_at = ?"
                " WHERE id = (SELECT id FROM jobs WHERE (state = 'queued' AND run_at <= ?)"
                "   OR (state = 'leased' AND lease_expires <= ?)"
                "   ORDER BY run_at, created_at LIMIT 1)"
                " RETURNING id, video_id, payload, attempts, max_attempts, last_error",
                (token, worker_id, now + visibility_timeout, now, now, now),
            )
        if not rows:
            return None
        row = next(iter(rows))
        return Job(
            id=row["id"],
            video_id=row["video_id"],
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            lease_token=token,
            payload=json.loads(row["payload"]),
            last_error=row["last_error"],
        )

    async def lease(self, worker_id: str, visibility_timeout: float, wait: float) -> Job | None:
        deadline = time.monotonic() + wait
        while True:
            self._wakeup.clear()
            version = await self._data_version()
            job = await self._try_lease(worker_id, visibility_timeout)
            remaining = deadline - time.monotonic()
            if job is not None or remaining <= 0:
                return job
            await self._wait_for_change(version, min(POLL_INTERVAL, remaining))

    async def _data_version(self) -> int:
        with unavailable_on_error("lease"):
            rows = list(await self.db.execute_fetchall("PRAGMA data_version"))
        return int(rows[0][0])

    async def _wait_for_change(self, version: int, longest: float) -> None:
        """Until an enqueue in this process, a commit by another connection, or `longest`
        (which also catches leases expiring and retries falling due)."""
        deadline = time.monotonic() + longest
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), min(CHANGE_POLL, left))
                return
            if await self._data_version() != version:
                return

    async def _update_leased(self, job: Job, assignments: str, *params: Any) -> bool:
        with unavailable_on_error("job update"):
            cursor = await self.db.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ?"
                " WHERE id = ? AND lease_token = ? AND state = 'leased'",
                (*params, time.time(), job.id, job.lease_token),
            )
        return cursor.rowcount == 1

    async def heartbeat(self, job: Job, visibility_timeout: float) -> bool:
        return await self._update_leased(job, "lease_expires = ?", time.time() + visibility_timeout)

    async def complete(self, job: Job) -> bool:
        return await self._update_leased(job, "state = 'done', lease_token = NULL")

    async def retry_later(self, job: Job, delay: float, reason: str) -> bool:
        changed = await self._update_leased(
            job,
            "state = 'queued', lease_token = NULL, run_at = ?, last_error = ?",
            time.time() + delay,
            reason,
        )
        self._wakeup.set()
        return changed

    async def fail(self, job: Job, reason: str) -> bool:
        return await self._update_leased(
            job, "state = 'failed', lease_token = NULL, last_error = ?", reason
        )

    async def release(self, job: Job) -> bool:
        changed = await self._update_leased(
            job,
            "state = 'queued', lease_token = NULL, run_at = ?, attempts = MAX(attempts - 1, 0)",
            time.time(),
        )
        self._wakeup.set()
        return changed

    async def cancel(self, video_id: str) -> int:
        with unavailable_on_error("cancel"):
            cursor = await self.db.execute(
                "UPDATE jobs SET state = 'cancelled', lease_token = NULL, updated_at = ?"
                " WHERE video_id = ? AND state IN ('queued', 'leased')",
                (time.time(), video_id),
            )
        return cursor.rowcount

    async def depth(self) -> int:
        with unavailable_on_error("queue depth"):
            rows = await self.db.execute_fetchall(
                "SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'"
            )
        return int(next(iter(rows))["n"])
