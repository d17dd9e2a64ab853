"""API key records in the embedded SQLite database (see `catalog.apikeys`)."""

from __future__ import annotations

import aiosqlite

from vodstack.catalog.apikeys import ApiKeyRecord
from vodstack.catalog.sqlite_parts import SqliteHandle
from vodstack.sqlite import transaction, unavailable_on_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
"""


class SqliteApiKeys:
    def __init__(self, handle: SqliteHandle) -> None:
        self._handle = handle

    async def add_key(self, record: ApiKeyRecord) -> None:
        with unavailable_on_error("add API key"):
            try:
                await self._handle.db.execute(
                    "INSERT INTO api_keys (id, created_at, data) VALUES (?, ?, ?)",
                    (record.id, record.created_at, record.to_json()),
                )
            except aiosqlite.IntegrityError:
                raise ValueError(f"API key {record.id} already exists") from None

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        with unavailable_on_error("get API key"):
            rows = list(await self._handle.db.execute_fetchall(
                "SELECT data FROM api_keys WHERE id = ?", (key_id,)
            ))
        return ApiKeyRecord.from_json(rows[0]["data"]) if rows else None

    async def list_keys(self) -> list[ApiKeyRecord]:
        with unavailable_on_error("list API keys"):
            rows = await self._handle.db.execute_fetchall(
                "SELECT data FROM api_keys ORDER BY created_at, id"
            )
        return [ApiKeyRecord.from_json(row["data"]) for row in rows]

    async def revoke_key(self, key_id: str, at: float) -> bool:
        db = self._handle.db
        with unavailable_on_error("revoke API key"):
            async with transaction(db, self._handle.write_lock):
                rows = list(await db.execute_fetchall(
                    "SELECT data FROM api_keys WHERE id = ?", (key_id,)
                ))
                if not rows:
                    return False
                record = ApiKeyRecord.from_json(rows[0]["data"])
                if record.revoked_at is None:
                    revoked = ApiKeyRecord(
                        record.id, record.name, record.hash, record.created_at, at
                    )
                    await db.execute(
                        "UPDATE api_keys SET data = ? WHERE id = ?", (revoked.to_json(), key_id)
                    )
                return True
