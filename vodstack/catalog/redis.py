"""Video catalogue on Redis, shared by every service of a distributed deployment.

One JSON string per video, plus lexicographic sorted-set indexes (all scores 0, members
`<sortable created_at>:<id>`) — one over every video and one per status — so a page is
one ZREVRANGEBYLEX, newest first with ties broken by id, exactly like the SQLite index and
the cursor of `catalog.base`. Updates are read-modify-write under WATCH/MULTI; the other
changes are single Lua scripts. Key layout: `vodstack.redis_keys`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import WatchError

from vodstack.catalog.base import Video, VideoStatus, decode_cursor, encode_cursor
from vodstack.catalog.redis_apikeys import RedisApiKeys
from vodstack.catalog.redis_outbox import RedisOutbox
from vodstack.catalog.redis_uploads import RedisUploadSessions
from vodstack.errors import QueueUnavailable
from vodstack.redis_conn import RedisTarget, connect, parse_redis_url, unavailable_on_error
from vodstack.redis_keys import RedisKeys, index_member
from vodstack.settings import Settings
from vodstack.webhooks.events import new_deliveries

# KEYS: video, newest, status index   ARGV: json, member
_CREATE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  return 0
end
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
return 1
"""

# KEYS: video, newest, video's idempotency set
# ARGV: member, video_id, idempotency key prefix, status index keys...
_DELETE = """
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 4, #ARGV do
  redis.call('ZREM', ARGV[i], ARGV[1])
end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local holder = ARGV[3] .. key
  if redis.call('GET', holder) == ARGV[2] then
    redis.call('DEL', holder)
  end
end
redis.call('DEL', KEYS[3])
return 1
"""

# KEYS: index   ARGV: max ('+' or '(member'), count, video key prefix
# Members and records are read in one go, so a page is a consistent snapshot.
_PAGE = """
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '-', 'LIMIT', 0, ARGV[2])
local records = {}
for i, member in ipairs(members) do
  records[i] = redis.call('GET', ARGV[3] .. string.sub(member, 18)) or ''
end
return records
"""

# KEYS: idempotency key, video's idempotency set   ARGV: video_id, ttl_ms, key
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], ARGV[3])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
  return false
end
return redis.call('GET', KEYS[1])
"""

# KEYS: idempotency key, video's idempotency set   ARGV: video_id, key
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""


class RedisCatalog:
    def __init__(self, target: RedisTarget, settings: Settings) -> None:
        self.target = target
        self._keys = target.keys
        self._settings = settings
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._extra_scripts: dict[str, AsyncScript] = {}
        self.uploads = RedisUploadSessions(self)
        self.api_keys = RedisApiKeys(self)
        self.outbox = RedisOutbox(self)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> RedisCatalog:
        return cls(parse_redis_url(url), settings)

    def __repr__(self) -> str:
        return f"RedisCatalog({self.target.where!r}, prefix={self.keys.prefix!r})"

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise QueueUnavailable("catalogue is not started")
        return self._client

    @property
    def keys(self) -> RedisKeys:
        return self._keys

    @property
    def where(self) -> str:
        return self.target.where

    async def run_script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """A Lua script of the catalogue's parts (uploads, keys, outbox), registered once."""
        script = self._extra_scripts.get(source)
        if script is None:
            script = self._extra_scripts[source] = self.client.register_script(source)
        with unavailable_on_error("catalogue script", self.target.where):
            return await script(keys=keys, args=args)

    async def start(self) -> None:
        if self._client is None:
            self._client = connect(self.target, self._settings)
            self._scripts = {
                "create": self._client.register_script(_CREATE),
                "delete": self._client.register_script(_DELETE),
                "page": self._client.register_script(_PAGE),
                "claim": self._client.register_script(_CLAIM),
                "release": self._client.register_script(_RELEASE),
            }
        await self.check()

    async def close(self) -> None:
        client, self._client = self._client, None
        self._extra_scripts = {}
        if client is not None:
            await client.aclose()

    async def check(self) -> None:
        with unavailable_on_error("ping", self.target.where):
            await self.client.ping()

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        with unavailable_on_error(f"catalogue {name}", self.target.where):
            return await self._scripts[name](keys=keys, args=args)

    # -- records ---------------------------------------------------------------------------

    async def create(self, video: Video) -> None:
        created = await self._script(
            "create",
            [self.keys.video(video.id), self.keys.newest, self.keys.with_status(video.status)],
            [video.to_json(), index_member(video.created_at, video.id)],
        )
        if not created:
            raise ValueError(f"video {video.id} already exists")

    async def get(self, video_id: str) -> Video | None:
        with unavailable_on_error("get video", self.target.where):
            raw = await self.client.get(self.keys.video(video_id))
        return Video.from_json(raw) if raw is not None else None

    async def update(self, video_id: str, **changes: Any) -> Video | None:
        return await self._update(video_id, None, changes)

    async def update_if(
        self, video_id: str, expected: VideoStatus, **changes: Any
    ) -> Video | None:
        return await self._update(video_id, expected, changes)

    async def _update(
        self, video_id: str, expected: VideoStatus | None, changes: dict[str, Any]
    ) -> Video | None:
        key = self.keys.video(video_id)
        with unavailable_on_error("update video", self.target.where):
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        if raw is None:
                            return None
                        old = Video.from_json(raw)
                        if expected is not None and old.status is not expected:
                            await pipe.reset()
                            return None
                        new = dataclasses.replace(old, **changes, updated_at=time.time())
                        pipe.multi()
                        pipe.set(key, new.to_json())
                        self._move_in_indexes(pipe, old, new)
                        await pipe.execute()
                        return new
                    except WatchError:
                        continue

    async def update_and_notify(
        self, video_id: str, event: str, urls: Sequence[str], **changes: Any
    ) -> Video | None:
        if not urls:
            return await self.update(video_id, **changes)
        key = self.keys.video(video_id)
        with unavailable_on_error("update video", self.target.where):
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        if raw is None:
                            return None
                        now = time.time()
                        old = Video.from_json(raw)
                        new = dataclasses.replace(old, **changes, updated_at=now)
                        pipe.multi()
                        pipe.set(key, new.to_json())
                        self._move_in_indexes(pipe, old, new)
                        self.outbox.queue_inserts(pipe, new_deliveries(event, new, urls, now))
                        await pipe.execute()
                        return new
                    except WatchError:
                        continue

    def _move_in_indexes(self, pipe: Any, old: Video, new: Video) -> None:
        old_member = index_member(old.created_at, old.id)
        new_member = index_member(new.created_at, new.id)
        if old_member != new_member:
            pipe.zrem(self.keys.newest, old_member)
            pipe.zadd(self.keys.newest, {new_member: 0})
        if old_member != new_member or old.status != new.status:
            pipe.zrem(self.keys.with_status(old.status), old_member)
            pipe.zadd(self.keys.with_status(new.status), {new_member: 0})

    async def delete(self, video_id: str) -> bool:
        video = await self.get(video_id)
        if video is None:
            return False
        deleted = await self._script(
            "delete",
            [self.keys.video(video_id), self.keys.newest, self.keys.video_idempotency(video_id)],
            [
                index_member(video.created_at, video_id),
                video_id,
                self.keys.idempotency_prefix,
                *(self.keys.with_status(status) for status in VideoStatus),
            ],
        )
        return bool(deleted)

    async def list(
        self, *, status: VideoStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Video], str | None]:
        index = self.keys.newest if status is None else self.keys.with_status(status)
        upper = "+"
        if cursor:
            created_at, last_id = decode_cursor(cursor)
            upper = "(" + index_member(created_at, last_id)
        records = await self._script(
            "page", [index], [upper, limit + 1, self.keys.video_prefix]
        )
        videos = [Video.from_json(raw) for raw in records[:limit] if raw]
        more = len(records) > limit
        return videos, encode_cursor(videos[-1]) if more and videos else None

    # -- idempotency keys ------------------------------------------------------------------

    async def claim_idempotency_key(self, key: str, video_id: str, ttl: float) -> str | None:
        holder = await self._script(
            "claim",
            [self.keys.idempotency(key), self.keys.video_idempotency(video_id)],
            [video_id, max(1, int(ttl * 1000)), key],
        )
        return str(holder) if holder is not None else None

    async def release_idempotency_key(self, key: str, video_id: str) -> None:
        await self._script(
            "release",
            [self.keys.idempotency(key), self.keys.video_idempotency(video_id)],
            [video_id, key],
        )
