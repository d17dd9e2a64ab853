"""What only the Redis queue and catalogue have: URL dispatch, prefixes, outages and hangs."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.ports import listening_addresses
from tests.support.redis_server import RedisServer
from vodstack.catalog import Video, open_catalog
from vodstack.catalog.redis import RedisCatalog
from vodstack.errors import QueueUnavailable
from vodstack.queue import open_queue
from vodstack.queue.redis import RedisQueue
from vodstack.settings import Settings

TIMEOUT = 1.0
MARGIN = 2.0


def test_redis_listens_on_loopback_only(redis_server: RedisServer) -> None:
    assert redis_server.pid is not None
    sockets = listening_addresses(redis_server.pid)
    assert sockets == [("tcp", "127.0.0.1", redis_server.port)]


async def test_redis_urls_open_the_redis_backends(redis_url: str) -> None:
    settings = Settings(queue=redis_url)
    queue, catalog = open_queue(settings), open_catalog(settings)
    assert isinstance(queue, RedisQueue) and isinstance(catalog, RedisCatalog)
    await queue.start()
    await catalog.start()
    try:
        await catalog.create(Video(id="vid-1"))
        await queue.enqueue("vid-1", {}, max_attempts=1)
        job = await queue.lease("w", 5, wait=0)
        assert job is not None and job.video_id == "vid-1"
    finally:
        await queue.close()
        await catalog.close()


async def test_key_prefixes_keep_deployments_apart(redis_server: RedisServer) -> None:
    one_url, two_url = redis_server.url(prefix="one:"), redis_server.url(prefix="two:")
    one = RedisQueue.from_url(one_url, Settings(queue=one_url))
    two = RedisQueue.from_url(two_url, Settings(queue=two_url))
    await one.start()
    await two.start()
    try:
        await one.enqueue("vid-1", {}, max_attempts=1)
        assert await two.depth() == 0
        assert await two.lease("w", 5, wait=0) is None
        assert await one.lease("w", 5, wait=0) is not None
    finally:
        await one.close()
        await two.close()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A Redis of this test's own, to stop, freeze and restart."""
    server = RedisServer(tmp_path / "redis")
    await asyncio.to_thread(server.start)
    yield server
    if server.proc is not None:
        server.proc.send_signal(signal.SIGCONT)
    await asyncio.to_thread(server.stop)


@pytest.mark.slow
async def test_redis_restart_is_survived_by_queue_and_catalogue(own_redis: RedisServer) -> None:
    url = own_redis.url()
    settings = Settings(queue=url, redis_timeout=TIMEOUT)
    queue, catalog = RedisQueue.from_url(url, settings), RedisCatalog.from_url(url, settings)
    await queue.start()
    await catalog.start()
    try:
        await queue.enqueue("vid-1", {}, max_attempts=1)
        await asyncio.to_thread(own_redis.stop)

        for attempt in (
            lambda: queue.enqueue("vid-2", {}, max_attempts=1),
            lambda: queue.lease("w", 5, wait=0),
            lambda: catalog.get("vid-1"),
            queue.check,
        ):
            started = time.monotonic()
            with pytest.raises(QueueUnavailable, match="Redis"):
                await attempt()
            assert time.monotonic() - started < TIMEOUT + MARGIN

        # Back empty (nothing persisted): the consumer group is recreated on demand.
        await asyncio.to_thread(own_redis.start)
        await queue.enqueue("vid-3", {}, max_attempts=1)
        job = await queue.lease("w", 5, wait=1)
        assert job is not None and job.video_id == "vid-3"
        assert await queue.complete(job)
        await catalog.create(Video(id="vid-3"))
        assert await catalog.get("vid-3") is not None
    finally:
        await queue.close()
        await catalog.close()


@pytest.mark.slow
async def test_a_frozen_redis_times_out_within_redis_timeout(own_redis: RedisServer) -> None:
    url = own_redis.url()
    settings = Settings(queue=url, redis_timeout=TIMEOUT)
    queue, catalog = RedisQueue.from_url(url, settings), RedisCatalog.from_url(url, settings)
    await queue.start()
    await catalog.start()
    assert own_redis.proc is not None
    try:
        own_redis.proc.send_signal(signal.SIGSTOP)
        for attempt in (
            lambda: queue.enqueue("vid-1", {}, max_attempts=1),
            lambda: queue.lease("w", 5, wait=3),
            lambda: catalog.update("vid-1", progress=1.0),
        ):
            started = time.monotonic()
            with pytest.raises(QueueUnavailable):
                await attempt()
            assert time.monotonic() - started < TIMEOUT + MARGIN
        own_redis.proc.send_signal(signal.SIGCONT)
        await queue.check()
        await catalog.create(Video(id="vid-2"))
    finally:
        await queue.close()
        await catalog.close()


async def test_workers_long_gone_are_forgotten_but_not_those_holding_jobs(
    redis_url: str,
) -> None:
    queue = RedisQueue.from_url(redis_url, Settings(queue=redis_url))
    await queue.start()
    try:
        await queue.enqueue("vid-1", {}, max_attempts=1)
        await queue.enqueue("vid-2", {}, max_attempts=1)
        finished = await queue.lease("idle-worker", 60, wait=0)
        assert finished is not None and await queue.complete(finished)
        assert await queue.lease("busy-worker", 60, wait=0) is not None
        await asyncio.sleep(0.05)
        assert await queue.forget_idle_consumers(0.01) == 1
        names = {c["name"] for c in await queue.client.xinfo_consumers(
            queue.keys.stream, "workers"
        )}
        assert names == {"busy-worker"}
    finally:
        await queue.close()
