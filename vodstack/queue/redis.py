"""Job queue on Redis Streams: a consumer group, reclaiming with XAUTOCLAIM, fenced leases.

Leasing takes, in one atomic script, the first of: a retry that is due (moved from the
delayed set back into the stream), an entry whose worker stopped heartbeating for longer
than the visibility timeout (XAUTOCLAIM), a new entry (XREADGROUP). When there is none it
blocks in XREADGROUP until an entry arrives, a retry falls due or a short tick passes (to
look for expired leases again), never longer than `wait` — no busy polling.

The visibility timeout is measured by Redis as the entry's idle time, which a heartbeat
resets (XCLAIM to the same consumer). Every worker of a deployment uses the same
`visibility_timeout` setting, which is what makes "idle longer than my timeout" the same
test as "its lease expired". Script details: `redis_scripts`.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from vodstack.errors import QueueUnavailable
from vodstack.queue import redis_scripts as lua
from vodstack.queue.base import Job
from vodstack.redis_conn import RedisTarget, connect, parse_redis_url, unavailable_on_error
from vodstack.redis_keys import JOB_FIELD, JOB_GROUP
from vodstack.settings import Settings

MAX_BLOCK = 1.0
"""Longest single XREADGROUP block: how soon an expired lease is noticed by an idle worker."""
SCAN_BATCH = 10
"""Due retries promoted, and stale entries skipped, per lease attempt."""
FINISHED_JOB_RETENTION = 7 * 24 * 3600
"""Seconds a finished, failed or cancelled job's record is kept (for inspection)."""
IDLE_CONSUMER_AGE = 24 * 3600.0
"""Consumers (worker ids) silent this long and holding nothing are forgotten at start-up."""

T = TypeVar("T")


class RedisQueue:
    def __init__(self, target: RedisTarget, settings: Settings) -> None:
        self.target = target
        self.keys = target.keys
        self._settings = settings
        self._max_block = min(MAX_BLOCK, settings.redis_timeout / 2)
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> RedisQueue:
        return cls(parse_redis_url(url), settings)

    def __repr__(self) -> str:
        return f"RedisQueue({self.target.where!r}, prefix={self.keys.prefix!r})"

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise QueueUnavailable("queue is not started")
        return self._client

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is None:
            self._client = connect(self.target, self._settings)
            self._scripts = {
                name: self._client.register_script(getattr(lua, name))
                for name in (
                    "ENQUEUE", "TRY_LEASE", "TAKE_DELIVERED", "HEARTBEAT", "FINISH",
                    "RETRY_LATER", "RELEASE", "CANCEL", "DEPTH",
                )
            }
        with unavailable_on_error("creating the consumer group", self.target.where):
            await self._ensure_group()
            await self.forget_idle_consumers(IDLE_CONSUMER_AGE)

    async def forget_idle_consumers(self, idle_seconds: float) -> int:
        """Drop the group's record of workers long gone (each restart adds a worker id)."""
        consumers = await self.client.xinfo_consumers(self.keys.stream, JOB_GROUP)
        forgotten = 0
        for consumer in consumers:
            if consumer["pending"] == 0 and consumer["idle"] >= idle_seconds * 1000:
                await self.client.xgroup_delconsumer(self.keys.stream, JOB_GROUP, consumer["name"])
                forgotten += 1
        return forgotten

    async def _ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.keys.stream, JOB_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def check(self) -> None:
        with unavailable_on_error("ping", self.target.where):
            await self.client.ping()

    async def _run(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run a command; recreate the consumer group once if Redis lost it (restart)."""
        with unavailable_on_error(what, self.target.where):
            try:
                return await call()
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._ensure_group()
                return await call()

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts[name]
        return await self._run(name.lower(), lambda: script(keys=keys, args=args))

    # -- producing -------------------------------------------------------------------------

    async def enqueue(self, video_id: str, payload: dict[str, Any], *, max_attempts: int) -> str:
        job_id = uuid.uuid4().hex
        await self._script(
            "ENQUEUE",
            [self.keys.stream, self.keys.job(job_id), self.keys.video_jobs(video_id)],
            [job_id, video_id, json.dumps(payload), max_attempts],
        )
        return job_id

    # -- leasing ---------------------------------------------------------------------------

    async def lease(self, worker_id: str, visibility_timeout: float, wait: float) -> Job | None:
        deadline = time.monotonic() + wait
        while True:
            token = secrets.token_hex(8)
            result = await self._script(
                "TRY_LEASE",
                [self.keys.stream, self.keys.delayed],
                [JOB_GROUP, worker_id, token, int(visibility_timeout * 1000),
                 self.keys.job_prefix, SCAN_BATCH],
            )
            if result[0] is not None:
                return _job(result, token)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            block = min(remaining, self._max_block)
            next_due_ms = int(result[1])
            if next_due_ms >= 0:
                block = min(block, next_due_ms / 1000)
            job = await self._wait_for_entry(worker_id, token, block)
            if job is not None:
                return job

    async def _wait_for_entry(self, worker_id: str, token: str, block: float) -> Job | None:
        """Block in XREADGROUP; take the delivered job if it is still runnable."""
        block_ms = max(1, int(block * 1000))  # 0 would mean "block forever"
        delivered: Any = await self._run(
            "lease",
            lambda: self.client.xreadgroup(
                JOB_GROUP, worker_id, {self.keys.stream: ">"}, count=1, block=block_ms
            ),
        )
        for _stream, entries in delivered or []:
            for msg, fields in entries:
                job_id = (fields or {}).get(JOB_FIELD, "")
                taken = await self._script(
                    "TAKE_DELIVERED",
                    [self.keys.stream],
                    [JOB_GROUP, worker_id, token, self.keys.job_prefix, msg, job_id],
                )
                if taken:
                    return _job(taken, token)
        return None

    # -- the lease holder's calls ------------------------------------------------------------

    async def heartbeat(self, job: Job, visibility_timeout: float) -> bool:
        """Renew the lease: its entry's idle time starts again from zero."""
        changed = await self._script(
            "HEARTBEAT", [self.keys.stream, self.keys.job(job.id)], [JOB_GROUP, job.lease_token]
        )
        return bool(changed)

    async def _finish(self, job: Job, state: str, reason: str) -> bool:
        changed = await self._script(
            "FINISH",
            [self.keys.stream, self.keys.job(job.id), self.keys.video_jobs(job.video_id)],
            [JOB_GROUP, job.lease_token, state, reason, job.id, FINISHED_JOB_RETENTION],
        )
        return bool(changed)

    async def complete(self, job: Job) -> bool:
        return await self._finish(job, "done", "")

    async def fail(self, job: Job, reason: str) -> bool:
        return await self._finish(job, "failed", reason or "failed")

    async def retry_later(self, job: Job, delay: float, reason: str) -> bool:
        changed = await self._script(
            "RETRY_LATER",
            [self.keys.stream, self.keys.job(job.id), self.keys.delayed],
            [JOB_GROUP, job.lease_token, max(0, int(delay * 1000)), reason, job.id],
        )
        return bool(changed)

    async def release(self, job: Job) -> bool:
        changed = await self._script(
            "RELEASE", [self.keys.stream, self.keys.job(job.id)],
            [JOB_GROUP, job.lease_token, job.id],
        )
        return bool(changed)

    # -- by video, and metrics --------------------------------------------------------------

    async def cancel(self, video_id: str) -> int:
        cancelled = await self._script(
            "CANCEL",
            [self.keys.stream, self.keys.delayed, self.keys.video_jobs(video_id)],
            [JOB_GROUP, self.keys.job_prefix, FINISHED_JOB_RETENTION],
        )
        return int(cancelled)

    async def depth(self) -> int:
        waiting = await self._script("DEPTH", [self.keys.stream, self.keys.delayed], [JOB_GROUP])
        return int(waiting)


def _job(fields: list[Any], token: str) -> Job:
    job_id, video_id, payload, attempts, max_attempts, last_error = fields
    return Job(
        id=job_id,
        video_id=video_id,
        attempts=int(attempts),
        max_attempts=int(max_attempts),
        lease_token=token,
        payload=json.loads(payload),
        last_error=last_error or None,
    )
