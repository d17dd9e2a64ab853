"""What the Redis-backed parts of the catalogue (uploads, keys, outbox) share with it."""

from __future__ import annotations

from typing import Any, Protocol

from redis.asyncio import Redis

from vodstack.redis_keys import RedisKeys


class RedisHandle(Protocol):
    """The catalogue's client, key layout and script runner."""

    @property
    def client(self) -> Redis: ...

    @property
    def keys(self) -> RedisKeys: ...

    @property
    def where(self) -> str: ...

    async def run_script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script (registered once, then by its SHA), errors as QueueUnavailable."""
