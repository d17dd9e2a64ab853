"""Video catalogue in the embedded SQLite database."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import aiosqlite

from vodstack.catalog import sqlite_apikeys, sqlite_outbox, sqlite_uploads
from vodstack.catalog.base import Video, VideoStatus, decode_cursor, encode_cursor
from vodstack.errors import QueueUnavailable
from vodstack.sqlite import connect, transaction, unavailable_on_error
from vodstack.webhooks.events import new_deliveries

SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_newest ON videos (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS videos_by_status ON videos (status, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    video_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


class SqliteCatalog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self.uploads = sqlite_uploads.SqliteUploadSessions(self)
        self.api_keys = sqlite_apikeys.SqliteApiKeys(self)
        self.outbox = sqlite_outbox.SqliteOutbox(self)

    def __repr__(self) -> str:
        return f"SqliteCatalog({self.path!r})"

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise QueueUnavailable("catalogue is not started")
        return self._db

    @property
    def write_lock(self) -> asyncio.Lock:
        return self._lock

    async def start(self) -> None:
        self._db = await connect(self.path)
        with unavailable_on_error("creating the videos table"):
            await self.db.executescript(SCHEMA)
            for schema in (sqlite_uploads.SCHEMA, sqlite_apikeys.SCHEMA, sqlite_outbox.SCHEMA):
                await self.db.executescript(schema)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def check(self) -> None:
        with unavailable_on_error("catalogue check"):
            await self.db.execute_fetchall("SELECT 1")

    async def create(self, video: Video) -> None:
        with unavailable_on_error("create video"):
            try:
                await self.db.execute(
                    "INSERT INTO videos (id, status, created_at, data) VALUES (?, ?, ?, ?)",
                    (video.id, str(video.status), video.created_at, video.to_json()),
                )
            except aiosqlite.IntegrityError:
                raise ValueError(f"video {video.id} already exists") from None

    async def get(self, video_id: str) -> Video | None:
        with unavailable_on_error("get video"):
            rows = list(
                await self.db.execute_fetchall("SELECT data FROM videos WHERE id = ?", (video_id,))
            )
        return Video.from_json(rows[0]["data"]) if rows else None

    async def update(self, video_id: str, **changes: Any) -> Video | None:
        return await self._update(video_id, None, changes)

    async def update_if(
        self, video_id: str, expected: VideoStatus, **changes: Any
    ) -> Video | None:
        return await self._update(video_id, expected, changes)

    async def _update(
        self, video_id: str, expected: VideoStatus | None, changes: dict[str, Any]
    ) -> Video | None:
        with unavailable_on_error("update video"):
            async with transaction(self.db, self._lock):
                rows = list(
                    await self.db.execute_fetchall(
                        "SELECT data FROM videos WHERE id = ?", (video_id,)
                    )
                )
                if not rows:
                    return None
                current = Video.from_json(rows[0]["data"])
                if expected is not None and current.status is not expected:
                    return None
                video = dataclasses.replace(current, **changes, updated_at=time.time())
                await self.db.execute(
                    "UPDATE videos SET status = ?, data = ? WHERE id = ?",
                    (str(video.status), video.to_json(), video_id),
                )
                return video

    async def update_and_notify(
        self, video_id: str, event: str, urls: Sequence[str], **changes: Any
    ) -> Video | None:
        if not urls:
            return await self.update(video_id, **changes)
        with unavailable_on_error("update video"):
            async with transaction(self.db, self._lock):
                rows = list(
                    await self.db.execute_fetchall(
                        "SELECT data FROM videos WHERE id = ?", (video_id,)
                    )
                )
                if not rows:
                    return None
                now = time.time()
                video = dataclasses.replace(
                    Video.from_json(rows[0]["data"]), **changes, updated_at=now
                )
                await self.db.execute(
                    "UPDATE videos SET status = ?, data = ? WHERE id = ?",
                    (str(video.status), video.to_json(), video_id),
                )
                await self.outbox.insert(new_deliveries(event, video, urls, now))
                return video

    async def delete(self, video_id: str) -> bool:
        with unavailable_on_error("delete video"):
            cursor = await self.db.execute("DELETE FROM videos WHERE id = ?", (video_id,))
            await self.db.execute("DELETE FROM idempotency_keys WHERE video_id = ?", (video_id,))
        return cursor.rowcount == 1

    async def list(
        self, *, status: VideoStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Video], str | None]:
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(str(status))
        if cursor:
            created_at, last_id = decode_cursor(cursor)
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [created_at, created_at, last_id]
        sql = "SELECT data FROM videos"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit + 1)
        with unavailable_on_error("list videos"):
            rows = list(await self.db.execute_fetchall(sql, params))
        videos = [Video.from_json(row["data"]) for row in rows[:limit]]
        next_cursor = encode_cursor(videos[-1]) if len(rows) > limit and videos else None
        return videos, next_cursor

    async def claim_idempotency_key(self, key: str, video_id: str, ttl: float) -> str | None:
        now = time.time()
        with unavailable_on_error("idempotency key"):
            async with transaction(self.db, self._lock):
                await self.db.execute(
                    "DELETE FROM idempotency_keys WHERE key = ? AND expires_at <= ?", (key, now)
                )
                rows = list(
                    await self.db.execute_fetchall(
                        "SELECT video_id FROM idempotency_keys WHERE key = ?", (key,)
                    )
                )
                if rows:
                    return str(rows[0]["video_id"])
                await self.db.execute(
                    "INSERT INTO idempotency_keys (key, video_id, expires_at) VALUES (?, ?, ?)",
                    (key, video_id, now + ttl),
                )
                return None

    async def release_idempotency_key(self, key: str, video_id: str) -> None:
        with unavailable_on_error("idempotency key"):
            await self.db.execute(
                "DELETE FROM idempotency_keys WHERE key = ? AND video_id = ?", (key, video_id)
            )
