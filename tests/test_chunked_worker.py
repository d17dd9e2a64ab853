"""Chunked transcoding through real workers on the embedded backends (local store, SQLite):
published ladder, progress, a part that keeps failing, deletion, jobs delivered twice."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import m3u8
import pytest

from tests.support.continuity import concatenate, decode_errors, stream_times
from tests.support.hls_store import check_published
from tests.test_transcoder_runner import running_with
from tests.test_transcoder_worker import Stack, open_stack
from transcoder.chunked.jobs import KIND_FIELD, JobKind, join_payload, part_payload
from transcoder.chunked.plan import ChunkPlan
from transcoder.chunked.planner import Planner
from transcoder.worker import Worker
from vodstack import keys
from vodstack.catalog import VideoStatus
from vodstack.queue import Job

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path, chunk_duration=8.0) as opened:
        yield opened


@pytest.fixture
def clip(make_clip: Callable[..., Path]) -> Path:
    return make_clip(duration=24, width=640, height=360)


async def run_workers(stack: Stack, video_id: str, count: int = 2, **overrides: object) -> None:
    settings = dataclasses.replace(stack.settings, **overrides)  # type: ignore[arg-type]
    workers = [Worker(settings, stack.backends) for _ in range(count)]
    for worker in workers:
        await worker.start()
    try:
        await stack.wait_for(video_id, {VideoStatus.READY, VideoStatus.FAILED})
        # Let the workers finish the jobs they hold (a part completing, a duplicate).
        deadline = time.monotonic() + 30
        while any(worker.running_jobs for worker in workers) or await stack.backends.queue.depth():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        for worker in workers:
            await worker.stop()


def kinds(stack: Stack, video_id: str) -> dict[str, list[str]]:
    """Job states by kind: {"transcode": ["done"], "part": [...], "join": [...]}."""
    found: dict[str, list[str]] = {}
    for row in stack.job_rows(video_id):
        kind = json.loads(row["payload"]).get(KIND_FIELD) or "transcode"
        found.setdefault(kind, []).append(row["state"])
    return {kind: sorted(states) for kind, states in found.items()}


async def published_objects(stack: Stack, video_id: str) -> dict[str, str]:
    store = stack.backends.store
    return {
        info.key: info.etag
        async for info in store.list(keys.video_prefix(video_id))
    }


async def test_a_chunked_video_is_published_as_one_ladder_with_grouped_audio(
    stack: Stack, clip: Path
) -> None:
    video_id = await stack.submit(clip)
    progress: list[float] = []

    async def watch() -> None:
        while True:
            video = await stack.backends.catalog.get(video_id)
            if video is not None and video.status is VideoStatus.PROCESSING:
                progress.append(video.progress)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        await run_workers(stack, video_id)
    finally:
        watcher.cancel()
    video = await stack.backends.catalog.get(video_id)
    assert video is not None and video.status is VideoStatus.READY, video
    assert video.duration == pytest.approx(24.0, abs=0.1) and video.progress == 100.0
    assert [r.name for r in video.renditions] == ["360p", "240p"]
    assert all(r.codecs.endswith(",mp4a.40.2") for r in video.renditions)
    assert progress == sorted(progress), "the progress went backwards"
    assert kinds(stack, video_id) == {
        "transcode": ["done"], "part": ["done"] * 4, "join": ["done"],
    }  # fmt: skip

    variants = await check_published(stack.backends.store, video_id, stack.tmp / "check")
    master = m3u8.loads((await stack.backends.store.read(keys.master_key(video_id))).decode())
    [audio] = master.media
    assert audio.type == "AUDIO" and audio.uri == f"{video.version}/audio-48k-mono/index.m3u8"
    for variant, record in zip(variants, video.renditions, strict=True):
        assert variant.stream_info.bandwidth == record.bandwidth
        assert variant.stream_info.audio == audio.group_id
        assert variant.total_duration == pytest.approx(24.0, abs=0.1)
        assert [s.duration for s in variant.segments] == [4.0] * 6
        for segment in variant.segments:
            assert segment.errors == "" and segment.first_video_frame_is_key
    for uri in [*(v.uri for v in variants), audio.uri]:
        joined = await concatenate(
            stack.backends.store, video_id, uri, stack.tmp / uri.replace("/", "-")
        )
        assert decode_errors(joined) == ""
        [stream] = stream_times(joined)
        step = 1 / 30 if stream.codec_type == "video" else 1024 / 48000
        assert stream.gaps(step, tolerance=1e-4) == []
        assert stream.end == pytest.approx(24.0, abs=0.1)
    poster = await stack.backends.store.read(keys.poster_key(video_id, video.version or ""))
    assert poster[:3] == b"\xff\xd8\xff"

    # Every part and join delivered once more: nothing is written, the video stays ready.
    before = await published_objects(stack, video_id)
    plan = ChunkPlan.from_dict(part_payloads(stack, video_id)[0]["plan"])
    upload = Job(id="again", video_id=video_id, attempts=1, max_attempts=3,
                 lease_token="-", payload={"video_id": video_id})  # fmt: skip
    for part in plan.parts:
        await stack.backends.queue.enqueue(video_id, part_payload(upload, plan, part),
                                           max_attempts=3)  # fmt: skip
    await stack.backends.queue.enqueue(video_id, join_payload(upload, plan), max_attempts=3)
    await run_workers(stack, video_id, count=1)
    assert await published_objects(stack, video_id) == before
    again = await stack.backends.catalog.get(video_id)
    assert again is not None and again.status is VideoStatus.READY
    assert again.ready_at == video.ready_at


def part_payloads(stack: Stack, video_id: str) -> list[dict[str, Any]]:
    payloads = [json.loads(row["payload"]) for row in stack.job_rows(video_id)]
    return [p for p in payloads if p.get(KIND_FIELD) == JobKind.PART]


async def test_a_plan_delivered_twice_makes_one_version_and_one_join(
    stack: Stack, clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The plan job's worker died after queueing the parts and the job ran again: the same
    parts are queued under the same version; the duplicates find their part done, and
    only one join joins."""
    caplog.set_level(logging.INFO, logger="transcoder.worker")
    video_id = await stack.submit(clip)
    [row] = stack.job_rows(video_id)
    job = Job(id=row["id"], video_id=video_id, attempts=1, max_attempts=3, lease_token="-",
              payload={"video_id": video_id, "source_key": keys.source_key(video_id)})  # fmt: skip
    await stack.backends.catalog.update(video_id, status=VideoStatus.PROCESSING)
    worker = Worker(stack.settings, stack.backends)
    await worker.space.open()
    try:
        planner = Planner(stack.settings, stack.backends, worker.space)
        first = await planner.plan(job)
        second = await planner.plan(job)
    finally:
        await worker.space.close()
    assert first is not None and second is not None and first.detail == second.detail
    # The upload's own job is done (as if it had finished after all).
    leased = await stack.backends.queue.lease("test", 30, 0)
    assert leased is not None and leased.id == row["id"]
    assert await stack.backends.queue.complete(leased)

    await run_workers(stack, video_id)
    video = await stack.backends.catalog.get(video_id)
    assert video is not None and video.status is VideoStatus.READY
    versions = {
        key.split("/")[2] for key in await published_objects(stack, video_id)
        if key != keys.master_key(video_id)
    }  # fmt: skip
    assert versions == {video.version}
    states = kinds(stack, video_id)
    assert states["part"] == ["done"] * 8
    # A duplicate part that finds the set complete queues a join again (it cannot tell a
    # duplicate from a rerun whose join was never queued); the joins after the first
    # find the join claimed and do nothing.
    assert set(states["join"]) == {"done"}
    succeeded = [r for r in caplog.records if r.getMessage().startswith("job succeeded")]
    assert len(succeeded) == 1
    handed_on = [r.getMessage() for r in caplog.records if "join:" in r.getMessage()]
    assert len(handed_on) == len(states["join"]) - 1


async def test_a_part_that_keeps_failing_fails_the_video_and_cancels_the_others(
    stack: Stack, clip: Path
) -> None:
    """No ffmpeg at all on this worker: the plan (ffprobe only) works, every part fails;
    the first to run out of attempts fails the video saying which part, and the other
    parts are cancelled instead of being tried again and again."""
    video_id = await stack.submit(clip, max_attempts=2)
    await run_workers(stack, video_id, count=1, ffmpeg_path="/nonexistent/ffmpeg")
    video = await stack.backends.catalog.get(video_id)
    assert video is not None and video.status is VideoStatus.FAILED
    assert video.error is not None
    assert video.error.startswith(("chunk ", "the audio: ")), video.error
    assert "cannot run" in video.error and "gave up after 2 attempts" in video.error
    assert "/nonexistent" not in video.error.split(":", 1)[0]
    states = kinds(stack, video_id)
    assert states["transcode"] == ["done"]
    assert "failed" in states["part"]
    assert set(states["part"]) <= {"failed", "cancelled"}
    assert "join" not in states
    assert await stack.backends.queue.depth() == 0


async def test_deleting_a_chunked_video_stops_its_parts_and_leaves_nothing(
    stack: Stack, clip: Path
) -> None:
    video_id = await stack.submit(clip)
    slow = dataclasses.replace(stack.settings, x264_preset="veryslow", visibility_timeout=3.0)
    workers = [Worker(slow, stack.backends) for _ in range(2)]
    for worker in workers:
        await worker.start()
    try:
        deadline = time.monotonic() + 60
        while not running_with(str(stack.settings.scratch_path), "ffmpeg"):
            assert time.monotonic() < deadline, "no part started"
            await asyncio.sleep(0.05)
        # What DELETE /v1/videos/<id> does: cancel the jobs, drop the record, the objects.
        cancelled = await stack.backends.queue.cancel(video_id)
        assert cancelled >= 2  # the running parts and the waiting ones
        assert await stack.backends.catalog.delete(video_id)
        await stack.backends.store.delete_prefix(keys.video_prefix(video_id))
        deleted_at = time.monotonic()
        while running_with(str(stack.settings.scratch_path)) or any(
            worker.running_jobs for worker in workers
        ):
            assert time.monotonic() - deleted_at < 10, "the parts went on after the delete"
            await asyncio.sleep(0.1)
    finally:
        for worker in workers:
            await worker.stop()
    assert await stack.keys_of(video_id) == []
    states = kinds(stack, video_id)
    assert set(states["part"]) <= {"cancelled", "failed"}, states
    assert await stack.backends.queue.depth() == 0
