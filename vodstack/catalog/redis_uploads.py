"""Resumable-upload records on Redis (see `catalog.uploads`; keys in `vodstack.redis_keys`).

The lock is its own key with a TTL, so a crashed holder's lock simply expires.
"""

from __future__ import annotations

from vodstack.catalog.redis_parts import RedisHandle
from vodstack.catalog.uploads import UploadRecord
from vodstack.redis_conn import unavailable_on_error

# KEYS: record, expiry index   ARGV: json, expires_at, id
_CREATE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS: record, lock, expiry index   ARGV: lock token, json, expires_at, id
_SAVE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""

# KEYS: record, lock, unlock flag, expiry index   ARGV: lock token, id
_DELETE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[2])
return 1
"""

# KEYS: lock, record, unlock flag   ARGV: lock token, ttl ms
_LOCK = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[3])
return 1
"""

# KEYS: lock, unlock flag   ARGV: lock token
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
end
return 1
"""

UNLOCK_REQUEST_TTL_MS = 60_000


class RedisUploadSessions:
    def __init__(self, handle: RedisHandle) -> None:
        self._handle = handle

    async def create_upload(self, record: UploadRecord) -> None:
        keys = self._handle.keys
        created = await self._handle.run_script(
            _CREATE,
            [keys.upload(record.id), keys.uploads_expiry],
            [record.to_json(), record.expires_at, record.id],
        )
        if not created:
            raise ValueError(f"upload {record.id} already exists")

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        with unavailable_on_error("get upload", self._handle.where):
            raw = await self._handle.client.get(self._handle.keys.upload(upload_id))
        return UploadRecord.from_json(raw) if raw is not None else None

    async def save_upload(self, record: UploadRecord, lock: str) -> bool:
        keys = self._handle.keys
        saved = await self._handle.run_script(
            _SAVE,
            [keys.upload(record.id), keys.upload_lock(record.id), keys.uploads_expiry],
            [lock, record.to_json(), record.expires_at, record.id],
        )
        return bool(saved)

    async def delete_upload(self, upload_id: str, lock: str) -> bool:
        keys = self._handle.keys
        deleted = await self._handle.run_script(
            _DELETE,
            [
                keys.upload(upload_id), keys.upload_lock(upload_id),
                keys.upload_unlock(upload_id), keys.uploads_expiry,
            ],
            [lock, upload_id],
        )
        return bool(deleted)

    async def lock_upload(self, upload_id: str, lock: str, ttl: float) -> bool:
        keys = self._handle.keys
        locked = await self._handle.run_script(
            _LOCK,
            [keys.upload_lock(upload_id), keys.upload(upload_id), keys.upload_unlock(upload_id)],
            [lock, max(1, int(ttl * 1000))],
        )
        return bool(locked)

    async def unlock_upload(self, upload_id: str, lock: str) -> None:
        keys = self._handle.keys
        await self._handle.run_script(
            _UNLOCK, [keys.upload_lock(upload_id), keys.upload_unlock(upload_id)], [lock]
        )

    async def request_unlock(self, upload_id: str) -> None:
        with unavailable_on_error("request unlock", self._handle.where):
            await self._handle.client.set(
                self._handle.keys.upload_unlock(upload_id), "1", px=UNLOCK_REQUEST_TTL_MS
            )

    async def unlock_requested(self, upload_id: str) -> bool:
        with unavailable_on_error("unlock requested", self._handle.where):
            return bool(await self._handle.client.exists(
                self._handle.keys.upload_unlock(upload_id)
            ))

    async def expired_uploads(self, now: float, limit: int) -> list[str]:
        with unavailable_on_error("expired uploads", self._handle.where):
            ids = await self._handle.client.zrangebyscore(
                self._handle.keys.uploads_expiry, "-inf", now, start=0, num=limit
            )
        return [str(upload_id) for upload_id in ids]
