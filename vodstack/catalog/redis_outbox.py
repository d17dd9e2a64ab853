"""The webhook outbox on Redis (see `catalog.outbox`; keys in `vodstack.redis_keys`).

Due times are scores on the Redis clock (ms), so dispatchers on hosts whose clocks
disagree still take turns; a lease is a key with a TTL next to the delivery.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from vodstack.catalog.outbox import Delivery, DeliveryState
from vodstack.catalog.redis_parts import RedisHandle
from vodstack.redis_conn import unavailable_on_error

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: due index   ARGV: limit, lease ms, lease token, lease key prefix
_LEASE = _NOW_MS + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
  redis.call('SET', ARGV[4] .. id, ARGV[3], 'PX', tonumber(ARGV[2]))
end
return ids
"""

# KEYS: delivery, lease, due index   ARGV: lease token, json, state, retry ms, id
_RECORD = _NOW_MS + """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
if ARGV[3] == 'pending' then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[5])
else
  redis.call('ZREM', KEYS[3], ARGV[5])
end
return 1
"""


class RedisOutbox:
    def __init__(self, handle: RedisHandle) -> None:
        self._handle = handle

    def queue_inserts(self, pipe: Any, deliveries: Iterable[Delivery]) -> None:
        """Add new deliveries to the caller's MULTI (the transaction that changes the video)."""
        keys = self._handle.keys
        for delivery in deliveries:
            created_ms = int(delivery.created_at * 1000)
            pipe.set(keys.webhook(delivery.id), delivery.to_json())
            pipe.zadd(keys.webhooks_due, {delivery.id: 0})
            pipe.zadd(keys.webhooks_newest, {delivery.id: created_ms})
            pipe.zadd(keys.video_webhooks(delivery.video_id), {delivery.id: created_ms})

    async def lease_due(self, limit: int, lease_seconds: float) -> list[Delivery]:
        keys = self._handle.keys
        token = secrets.token_hex(8)
        ids = await self._handle.run_script(
            _LEASE, [keys.webhooks_due],
            [limit, max(1, int(lease_seconds * 1000)), token, keys.webhook_lease_prefix],
        )
        if not ids:
            return []
        with unavailable_on_error("read webhook deliveries", self._handle.where):
            raws = await self._handle.client.mget([keys.webhook(i) for i in ids])
        return [Delivery.from_json(raw, lease_token=token) for raw in raws if raw is not None]

    async def record_attempt(self, leased: Delivery, updated: Delivery, retry_in: float) -> bool:
        keys = self._handle.keys
        recorded = await self._handle.run_script(
            _RECORD,
            [keys.webhook(leased.id), keys.webhook_lease_prefix + leased.id, keys.webhooks_due],
            [
                leased.lease_token or "",
                updated.to_json(),
                str(updated.state),
                max(0, int(retry_in * 1000)) if updated.state is DeliveryState.PENDING else 0,
                leased.id,
            ],
        )
        return bool(recorded)

    async def list_deliveries(
        self, *, video_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        keys = self._handle.keys
        index = keys.webhooks_newest if video_id is None else keys.video_webhooks(video_id)
        with unavailable_on_error("list webhook deliveries", self._handle.where):
            ids = [str(i) for i in await self._handle.client.zrevrange(index, 0, limit - 1)]
            raws = await self._handle.client.mget([keys.webhook(i) for i in ids]) if ids else []
        return [Delivery.from_json(raw) for raw in raws if raw is not None]
