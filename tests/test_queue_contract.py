"""The JobQueue contract, run unchanged against SqliteQueue and RedisQueue (real Redis).

Visibility timeouts here are one second, so the reclaim tests wait about that long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from vodstack.queue import JobQueue
from vodstack.queue.redis import RedisQueue
from vodstack.queue.sqlite import SqliteQueue
from vodstack.settings import Settings

VT = 1.0
"""Visibility timeout of the tests' leases, seconds."""

QueueFactory = Callable[[], Awaitable[JobQueue]]


@pytest.fixture(params=["sqlite", "redis"])
async def make_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[QueueFactory]:
    """Factory of started queues that share one backend (like several worker processes)."""
    opened: list[JobQueue] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None

    async def make() -> JobQueue:
        queue: JobQueue
        if url is not None:
            queue = RedisQueue.from_url(url, Settings(queue=url, redis_timeout=3.0))
        else:
            queue = SqliteQueue(str(tmp_path / "queue.db"))
        await queue.start()
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        await queue.close()


@pytest.fixture
async def queue(make_queue: QueueFactory) -> JobQueue:
    return await make_queue()


# -- the happy path ------------------------------------------------------------------------


async def test_enqueue_lease_complete(queue: JobQueue) -> None:
    job_id = await queue.enqueue("video-a", {"kind": "transcode", "n": 1}, max_attempts=3)
    assert await queue.depth() == 1

    job = await queue.lease("w1", VT, wait=0)

    assert job is not None
    assert (job.id, job.video_id, job.payload) == (job_id, "video-a", {"kind": "transcode", "n": 1})
    assert (job.attempts, job.max_attempts, job.last_error) == (1, 3, None)
    assert not job.is_last_attempt
    assert await queue.depth() == 0
    assert await queue.heartbeat(job, VT)
    assert await queue.complete(job)
    assert await queue.lease("w2", VT, wait=0) is None


async def test_jobs_come_out_in_order(queue: JobQueue) -> None:
    ids = [await queue.enqueue(f"video-{n}", {}, max_attempts=1) for n in range(5)]
    leased = []
    for _ in ids:
        job = await queue.lease("w", VT, wait=0)
        assert job is not None
        leased.append(job.id)
    assert leased == ids


async def test_empty_queue_waits_then_returns_none(queue: JobQueue) -> None:
    started = time.monotonic()
    assert await queue.lease("w", VT, wait=0) is None
    assert await queue.lease("w", VT, wait=0.6) is None
    assert 0.5 <= time.monotonic() - started < 3


async def test_waiting_lease_wakes_up_for_a_new_job(make_queue: QueueFactory) -> None:
    producer, consumer = await make_queue(), await make_queue()
    waiting = asyncio.create_task(consumer.lease("w", VT, wait=10))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    job_id = await producer.enqueue("video-a", {}, max_attempts=1)
    job = await asyncio.wait_for(waiting, 10)
    assert job is not None and job.id == job_id
    assert time.monotonic() - started < 1.5  # woken up, not polled after the whole wait


# -- fencing: only the current lease counts ---------------------------------------------------


async def test_a_job_finished_twice_has_no_second_effect(queue: JobQueue) -> None:
    await queue.enqueue("video-a", {}, max_attempts=3)
    job = await queue.lease("w", VT, wait=0)
    assert job is not None
    assert await queue.complete(job)
    assert not await queue.complete(job)
    assert not await queue.fail(job, "late failure")
    assert not await queue.retry_later(job, 0, "late retry")
    assert not await queue.release(job)
    assert not await queue.heartbeat(job, VT)
    assert await queue.depth() == 0
    assert await queue.lease("w", VT, wait=0) is None


async def test_expired_lease_is_reclaimed_and_the_old_holder_is_fenced_off(
    make_queue: QueueFactory,
) -> None:
    first_worker, second_worker = await make_queue(), await make_queue()
    await first_worker.enqueue("video-a", {"n": 1}, max_attempts=3)
    stale = await first_worker.lease("w1", VT, wait=0)
    assert stale is not None
    assert await second_worker.lease("w2", VT, wait=0) is None  # still leased

    await asyncio.sleep(VT + 0.3)  # w1 "crashed": no heartbeat
    fresh = await second_worker.lease("w2", VT, wait=2)

    assert fresh is not None and fresh.id == stale.id
    assert fresh.attempts == 2
    assert fresh.lease_token != stale.lease_token
    assert not await first_worker.heartbeat(stale, VT)
    assert not await first_worker.complete(stale)
    assert not await first_worker.retry_later(stale, 0, "stale")
    assert not await first_worker.fail(stale, "stale")
    assert not await first_worker.release(stale)
    assert await second_worker.heartbeat(fresh, VT)
    assert await second_worker.complete(fresh)
    assert await second_worker.lease("w2", VT, wait=0) is None


async def test_heartbeat_keeps_the_lease(make_queue: QueueFactory) -> None:
    holder, other = await make_queue(), await make_queue()
    await holder.enqueue("video-a", {}, max_attempts=3)
    job = await holder.lease("w1", VT, wait=0)
    assert job is not None
    deadline = time.monotonic() + 2.5 * VT
    while time.monotonic() < deadline:
        assert await holder.heartbeat(job, VT)
        assert await other.lease("w2", VT, wait=0) is None
        await asyncio.sleep(VT / 4)
    assert await holder.complete(job)


async def test_attempts_count_every_lease_up_to_and_past_the_maximum(queue: JobQueue) -> None:
    await queue.enqueue("video-a", {}, max_attempts=2)
    first = await queue.lease("w", VT, wait=0)
    assert first is not None and first.attempts == 1 and not first.is_last_attempt
    await asyncio.sleep(VT + 0.3)
    second = await queue.lease("w", VT, wait=2)
    assert second is not None and second.attempts == 2 and second.is_last_attempt
    assert await queue.fail(second, "gave up")
    assert await queue.lease("w", VT, wait=0) is None


# -- retry, fail, release, cancel -------------------------------------------------------------


async def test_retry_later_waits_for_the_delay(queue: JobQueue) -> None:
    await queue.enqueue("video-a", {}, max_attempts=3)
    job = await queue.lease("w", VT, wait=0)
    assert job is not None
    assert await queue.retry_later(job, 0.8, "store timed out")
    assert await queue.depth() == 1  # scheduled retries count as waiting
    assert await queue.lease("w", VT, wait=0) is None

    started = time.monotonic()
    again = await queue.lease("w", VT, wait=5)
    waited = time.monotonic() - started

    assert again is not None and again.id == job.id
    assert again.attempts == 2
    assert again.last_error == "store timed out"
    assert 0.4 < waited < 2.5
    assert await queue.complete(again)


async def test_retry_later_without_delay_is_leasable_at_once(queue: JobQueue) -> None:
    await queue.enqueue("video-a", {}, max_attempts=3)
    job = await queue.lease("w", VT, wait=0)
    assert job is not None
    assert await queue.retry_later(job, 0, "again")
    again = await queue.lease("w", VT, wait=1)
    assert again is not None and again.id == job.id and again.attempts == 2


async def test_fail_is_final(queue: JobQueue) -> None:
    await queue.enqueue("video-a", {}, max_attempts=3)
    job = await queue.lease("w", VT, wait=0)
    assert job is not None
    assert await queue.fail(job, "not a video")
    assert await queue.depth() == 0
    await asyncio.sleep(VT + 0.3)
    assert await queue.lease("w", VT, wait=0) is None


async def test_release_hands_back_without_counting_the_attempt(queue: JobQueue) -> None:
    job_id = await queue.enqueue("video-a", {}, max_attempts=3)
    job = await queue.lease("w1", VT, wait=0)
    assert job is not None
    assert await queue.release(job)
    assert await queue.depth() == 1
    again = await queue.lease("w2", VT, wait=0)
    assert again is not None and again.id == job_id
    assert again.attempts == 1
    assert not await queue.complete(job)
    assert await queue.complete(again)


async def test_cancel_stops_queued_scheduled_and_running_jobs_of_one_video(
    queue: JobQueue,
) -> None:
    await queue.enqueue("doomed", {"n": 1}, max_attempts=3)
    running_id = await queue.enqueue("doomed", {"n": 2}, max_attempts=3)
    await queue.enqueue("doomed", {"n": 3}, max_attempts=3)
    kept_id = await queue.enqueue("kept", {}, max_attempts=3)

    scheduled = await queue.lease("w", VT, wait=0)
    running = await queue.lease("w", VT, wait=0)
    assert scheduled is not None and running is not None and running.id == running_id
    assert await queue.retry_later(scheduled, 0.3, "later")

    assert await queue.cancel("doomed") == 3
    assert await queue.cancel("doomed") == 0
    assert not await queue.heartbeat(running, VT)
    assert not await queue.complete(running)
    assert await queue.depth() == 1

    await asyncio.sleep(max(0.5, VT + 0.3))  # past the retry delay and the lease expiry
    left = await queue.lease("w", VT, wait=0)
    assert left is not None and left.id == kept_id
    assert await queue.lease("w", VT, wait=0) is None


# -- concurrency -------------------------------------------------------------------------------


async def test_concurrent_consumers_never_share_a_job(make_queue: QueueFactory) -> None:
    producer = await make_queue()
    consumers = [await make_queue() for _ in range(4)]
    job_ids = {await producer.enqueue(f"video-{n}", {"n": n}, max_attempts=1) for n in range(24)}
    held: set[str] = set()
    done: list[str] = []

    async def work(queue: JobQueue, worker_id: str) -> None:
        while True:
            job = await queue.lease(worker_id, 5.0, wait=0.3)
            if job is None:
                return
            assert job.id not in held, "two consumers hold the same job"
            held.add(job.id)
            await asyncio.sleep(0.01)
            held.discard(job.id)
            assert await queue.complete(job)
            done.append(job.id)

    await asyncio.wait_for(
        asyncio.gather(*(work(q, f"w{n}") for n, q in enumerate(consumers))), 60
    )
    assert sorted(done) == sorted(job_ids)
    assert await producer.depth() == 0


async def test_check_passes_on_a_started_queue(queue: JobQueue) -> None:
    await queue.check()
