"""Resumable-upload records in the embedded SQLite database (see `catalog.uploads`)."""

from __future__ import annotations

import time

import aiosqlite

from vodstack.catalog.sqlite_parts import SqliteHandle
from vodstack.catalog.uploads import UploadRecord
from vodstack.sqlite import unavailable_on_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at REAL NOT NULL,
    lock_token TEXT,
    lock_expires REAL NOT NULL DEFAULT 0,
    unlock_wanted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS uploads_by_expiry ON uploads (expires_at);
"""

_HELD = "id = ? AND lock_token = ? AND lock_expires > ?"


class SqliteUploadSessions:
    def __init__(self, handle: SqliteHandle) -> None:
        self._handle = handle

    @property
    def _db(self) -> aiosqlite.Connection:
        return self._handle.db

    async def create_upload(self, record: UploadRecord) -> None:
        with unavailable_on_error("create upload"):
            try:
                await self._db.execute(
                    "INSERT INTO uploads (id, data, expires_at) VALUES (?, ?, ?)",
                    (record.id, record.to_json(), record.expires_at),
                )
            except aiosqlite.IntegrityError:
                raise ValueError(f"upload {record.id} already exists") from None

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        with unavailable_on_error("get upload"):
            rows = list(await self._db.execute_fetchall(
                "SELECT data FROM uploads WHERE id = ?", (upload_id,)
            ))
        return UploadRecord.from_json(rows[0]["data"]) if rows else None

    async def save_upload(self, record: UploadRecord, lock: str) -> bool:
        with unavailable_on_error("save upload"):
            cursor = await self._db.execute(
                f"UPDATE uploads SET data = ?, expires_at = ? WHERE {_HELD}",
                (record.to_json(), record.expires_at, record.id, lock, time.time()),
            )
        return cursor.rowcount == 1

    async def delete_upload(self, upload_id: str, lock: str) -> bool:
        with unavailable_on_error("delete upload"):
            cursor = await self._db.execute(
                f"DELETE FROM uploads WHERE {_HELD}", (upload_id, lock, time.time())
            )
        return cursor.rowcount == 1

    async def lock_upload(self, upload_id: str, lock: str, ttl: float) -> bool:
        now = time.time()
        with unavailable_on_error("lock upload"):
            cursor = await self._db.execute(
                "UPDATE uploads SET lock_token = ?, lock_expires = ?,"
                " unlock_wanted = CASE WHEN lock_token = ? THEN unlock_wanted ELSE 0 END"
                " WHERE id = ? AND (lock_token IS NULL OR lock_token = ? OR lock_expires <= ?)",
                (lock, now + ttl, lock, upload_id, lock, now),
            )
        return cursor.rowcount == 1

    async def unlock_upload(self, upload_id: str, lock: str) -> None:
        with unavailable_on_error("unlock upload"):
            await self._db.execute(
                "UPDATE uploads SET lock_token = NULL, lock_expires = 0, unlock_wanted = 0"
                " WHERE id = ? AND lock_token = ?",
                (upload_id, lock),
            )

    async def request_unlock(self, upload_id: str) -> None:
        with unavailable_on_error("request unlock"):
            await self._db.execute(
                "UPDATE uploads SET unlock_wanted = 1 WHERE id = ? AND lock_token IS NOT NULL",
                (upload_id,),
            )

    async def unlock_requested(self, upload_id: str) -> bool:
        with unavailable_on_error("unlock requested"):
            rows = list(await self._db.execute_fetchall(
                "SELECT unlock_wanted FROM uploads WHERE id = ?", (upload_id,)
            ))
        return bool(rows and rows[0]["unlock_wanted"])

    async def expired_uploads(self, now: float, limit: int) -> list[str]:
        with unavailable_on_error("expired uploads"):
            rows = await self._db.execute_fetchall(
                "SELECT id FROM uploads WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
                (now, limit),
            )
        return [str(row["id"]) for row in rows]
