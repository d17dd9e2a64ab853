"""A waiting SQLite lease wakes on an enqueue made elsewhere (another connection, as another
process would), not only at its next poll."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vodstack.queue.sqlite import SqliteQueue


async def test_a_commit_by_another_connection_ends_the_wait(tmp_path: Path) -> None:
    path = str(tmp_path / "queue.db")
    worker, ingest = SqliteQueue(path), SqliteQueue(path)
    await worker.start()
    await ingest.start()
    try:
        version = await worker._data_version()
        # Far longer than the test may take: only the other connection's commit ends it.
        waiting = asyncio.ensure_future(worker._wait_for_change(version, longest=3600))
        await asyncio.sleep(0)
        assert not waiting.done()
        await ingest.enqueue("video", {"video_id": "video"}, max_attempts=1)
        await asyncio.wait_for(waiting, 60)
        job = await worker.lease("w1", 30, wait=0)
        assert job is not None and job.video_id == "video"
    finally:
        await worker.close()
        await ingest.close()


async def test_an_enqueue_in_the_same_process_ends_the_wait(tmp_path: Path) -> None:
    queue = SqliteQueue(str(tmp_path / "queue.db"))
    await queue.start()
    try:
        leasing = asyncio.ensure_future(queue.lease("w1", 30, wait=3600))
        await asyncio.sleep(0.1)
        assert not leasing.done()
        await queue.enqueue("video", {"video_id": "video"}, max_attempts=1)
        job = await asyncio.wait_for(leasing, 60)
        assert job is not None and job.video_id == "video"
    finally:
        await queue.close()
