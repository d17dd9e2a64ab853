"""The webhook outbox in the embedded SQLite database (see `catalog.outbox`).

`next_attempt_at` doubles as the lease: leasing pushes it to the lease's end.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

from vodstack.catalog.outbox import Delivery, DeliveryState
from vodstack.catalog.sqlite_parts import SqliteHandle
from vodstack.sqlite import unavailable_on_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    video_id TEXT NOT NULL,
    state TEXT NOT NULL,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    lease_token TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_newest ON webhook_deliveries (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS deliveries_of_video
    ON webhook_deliveries (video_id, created_at DESC, id DESC);
"""


class SqliteOutbox:
    def __init__(self, handle: SqliteHandle) -> None:
        self._handle = handle

    async def insert(self, deliveries: Iterable[Delivery]) -> None:
        """Add new deliveries; run inside the caller's transaction (same connection)."""
        await self._handle.db.executemany(
            "INSERT INTO webhook_deliveries"
            " (id, video_id, state, next_attempt_at, created_at, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (d.id, d.video_id, str(d.state), d.next_attempt_at, d.created_at, d.to_json())
                for d in deliveries
            ],
        )

    async def lease_due(self, limit: int, lease_seconds: float) -> list[Delivery]:
        now = time.time()
        token = secrets.token_hex(8)
        with unavailable_on_error("lease webhook deliveries"):
            rows = await self._handle.db.execute_fetchall(
                "UPDATE webhook_deliveries SET next_attempt_at = ?, lease_token = ?"
                " WHERE id IN (SELECT id FROM webhook_deliveries"
                "   WHERE state = 'pending' AND next_attempt_at <= ?"
                "   ORDER BY next_attempt_at LIMIT ?)"
                " RETURNING data",
                (now + lease_seconds, token, now, limit),
            )
        return [Delivery.from_json(row["data"], lease_token=token) for row in rows]

    async def record_attempt(self, leased: Delivery, updated: Delivery, retry_in: float) -> bool:
        with unavailable_on_error("record webhook attempt"):
            cursor = await self._handle.db.execute(
                "UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, data = ?,"
                " lease_token = NULL WHERE id = ? AND lease_token = ?",
                (
                    str(updated.state),
                    time.time() + retry_in if updated.state is DeliveryState.PENDING else 0.0,
                    updated.to_json(),
                    leased.id,
                    leased.lease_token,
                ),
            )
        return cursor.rowcount == 1

    async def list_deliveries(
        self, *, video_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        sql = "SELECT data FROM webhook_deliveries"
        params: list[object] = []
        if video_id is not None:
            sql += " WHERE video_id = ?"
            params.append(video_id)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        with unavailable_on_error("list webhook deliveries"):
            rows = await self._handle.db.execute_fetchall(sql, params)
        return [Delivery.from_json(row["data"]) for row in rows]
