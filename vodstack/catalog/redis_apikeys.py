"""API key records on Redis (see `catalog.apikeys`; keys in `vodstack.redis_keys`)."""

from __future__ import annotations

from redis.exceptions import WatchError

from vodstack.catalog.apikeys import ApiKeyRecord
from vodstack.catalog.redis_parts import RedisHandle
from vodstack.redis_conn import unavailable_on_error

# KEYS: record, index   ARGV: json, created_at, id
_ADD = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


class RedisApiKeys:
    def __init__(self, handle: RedisHandle) -> None:
        self._handle = handle

    async def add_key(self, record: ApiKeyRecord) -> None:
        keys = self._handle.keys
        added = await self._handle.run_script(
            _ADD, [keys.api_key(record.id), keys.api_keys],
            [record.to_json(), record.created_at, record.id],
        )
        if not added:
            raise ValueError(f"API key {record.id} already exists")

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        with unavailable_on_error("get API key", self._handle.where):
            raw = await self._handle.client.get(self._handle.keys.api_key(key_id))
        return ApiKeyRecord.from_json(raw) if raw is not None else None

    async def list_keys(self) -> list[ApiKeyRecord]:
        keys = self._handle.keys
        with unavailable_on_error("list API keys", self._handle.where):
            ids = [str(i) for i in await self._handle.client.zrange(keys.api_keys, 0, -1)]
            raws = await self._handle.client.mget([keys.api_key(i) for i in ids]) if ids else []
        return [ApiKeyRecord.from_json(raw) for raw in raws if raw is not None]

    async def revoke_key(self, key_id: str, at: float) -> bool:
        key = self._handle.keys.api_key(key_id)
        with unavailable_on_error("revoke API key", self._handle.where):
            async with self._handle.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        if raw is None:
                            return False
                        record = ApiKeyRecord.from_json(raw)
                        if record.revoked_at is not None:
                            return True
                        revoked = ApiKeyRecord(
                            record.id, record.name, record.hash, record.created_at, at
                        )
                        pipe.multi()
                        pipe.set(key, revoked.to_json())
                        await pipe.execute()
                        return True
                    except WatchError:
                        continue
