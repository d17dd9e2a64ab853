"""The part ledger in Redis (see `ledger`): one hash per video version.

    {p}chunked:<video_id>:<version>
        progress:<part>   percent of a running part
        done:<part>       "1" once the part's outputs are all stored
        join              id of the join job that owns the joining

Every call is one MULTI/EXEC transaction (a write, then the whole hash, then the expiry),
so the part that completes the set reads it complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from transcoder.chunked.ledger import DONE, RETENTION, PartsState
from vodstack.errors import QueueUnavailable
from vodstack.redis_conn import RedisTarget, connect, parse_redis_url, unavailable_on_error
from vodstack.settings import Settings

PROGRESS = "progress:"
DONE_FIELD = "done:"
JOIN = "join"


def parse_state(fields: Mapping[Any, Any]) -> PartsState:
    progress: dict[str, float] = {}
    done: set[str] = set()
    for name, value in fields.items():
        if name.startswith(PROGRESS):
            part = name[len(PROGRESS):]
            progress.setdefault(part, float(value))
        elif name.startswith(DONE_FIELD):
            done.add(name[len(DONE_FIELD):])
    for part in done:
        progress[part] = DONE
    return PartsState(progress=progress, done=frozenset(done))


class RedisPartLedger:
    def __init__(self, target: RedisTarget, settings: Settings) -> None:
        self.target = target
        self._settings = settings
        self._client: Redis | None = None

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> RedisPartLedger:
        return cls(parse_redis_url(url), settings)

    def __repr__(self) -> str:
        return f"RedisPartLedger({self.target.where!r}, prefix={self.target.keys.prefix!r})"

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise QueueUnavailable("the part ledger is not started")
        return self._client

    async def start(self) -> None:
        if self._client is None:
            self._client = connect(self.target, self._settings)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _write_then_read(self, key: str, what: str, write: Any) -> list[Any]:
        with unavailable_on_error(what, self.target.where):
            async with self.client.pipeline(transaction=True) as pipe:
                write(pipe)
                pipe.hgetall(key)
                pipe.expire(key, RETENTION)
                results: list[Any] = await pipe.execute()
        return results

    async def state(self, video_id: str, version: str) -> PartsState:
        key = self.target.keys.chunked(video_id, version)
        with unavailable_on_error("reading the part ledger", self.target.where):
            fields: Mapping[Any, Any] = await self.client.hgetall(key)
        return parse_state(fields)

    async def report(self, video_id: str, version: str, part: str, percent: float) -> PartsState:
        key = self.target.keys.chunked(video_id, version)
        results = await self._write_then_read(
            key, "recording a part's progress",
            lambda pipe: pipe.hset(key, PROGRESS + part, repr(float(percent))),
        )  # fmt: skip
        return parse_state(results[1])

    async def mark_done(self, video_id: str, version: str, part: str) -> PartsState:
        key = self.target.keys.chunked(video_id, version)
        results = await self._write_then_read(
            key, "recording a finished part", lambda pipe: pipe.hset(key, DONE_FIELD + part, "1")
        )
        return parse_state(results[1])

    async def claim_join(self, video_id: str, version: str, job_id: str) -> bool:
        key = self.target.keys.chunked(video_id, version)
        results = await self._write_then_read(
            key, "claiming a join", lambda pipe: pipe.hsetnx(key, JOIN, job_id)
        )
        return bool(results[1].get(JOIN) == job_id)
