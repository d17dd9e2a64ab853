"""The worker end to end on real backends (local store, SQLite queue and catalogue) and a
real ffmpeg: published HLS checked from the store, failures, retries, shutdown, deletion."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import m3u8
import pytest

from tests.support.hls_store import VariantCheck, check_published
from tests.test_transcoder_runner import running_with
from transcoder.worker import Worker
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video, VideoStatus
from vodstack.media import cache_control_for, content_type_for
from vodstack.queue import sqlite_path
from vodstack.settings import Settings

JOB_TIMEOUT = 120.0


@dataclasses.dataclass
class Stack:
    settings: Settings
    backends: Backends
    tmp: Path

    async def submit(self, source: Path | bytes, *, max_attempts: int | None = None) -> str:
        video_id = keys.new_video_id()
        key = keys.source_key(video_id)
        store = self.backends.store
        if isinstance(source, bytes):
            await store.put_bytes(key, source, content_type="application/octet-stream")
        else:
            await store.put_file(key, source, content_type="video/mp4")
        await self.backends.catalog.create(Video(id=video_id, filename=f"{video_id}.mp4"))
        await self.backends.queue.enqueue(
            video_id,
            {"video_id": video_id, "source_key": key, "request_id": f"req-{video_id[:6]}"},
            max_attempts=max_attempts or self.settings.max_attempts,
        )
        return video_id

    async def wait_for(
        self, video_id: str, statuses: set[VideoStatus], within: float = JOB_TIMEOUT
    ) -> Video:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            video = await self.backends.catalog.get(video_id)
            assert video is not None
            if video.status in statuses:
                return video
            await asyncio.sleep(0.1)
        raise AssertionError(f"{video_id} did not reach {statuses}: {video}")

    async def run(self, *video_ids: str, **overrides: Any) -> list[Video]:
        """Run a worker until every video is ready or failed."""
        settings = dataclasses.replace(self.settings, **overrides) if overrides else self.settings
        worker = Worker(settings, self.backends)
        await worker.start()
        try:
            return [
                await self.wait_for(video_id, {VideoStatus.READY, VideoStatus.FAILED})
                for video_id in video_ids
            ]
        finally:
            await worker.stop()

    def job_rows(self, video_id: str) -> list[dict[str, Any]]:
        with sqlite3.connect(sqlite_path(self.settings.queue_url)) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM jobs WHERE video_id = ?", (video_id,)).fetchall()
        return [dict(row) for row in rows]

    async def keys_of(self, video_id: str) -> list[str]:
        return [info.key async for info in self.backends.store.list(keys.video_prefix(video_id))]


@asynccontextmanager
async def open_stack(tmp_path: Path, **overrides: Any) -> AsyncIterator[Stack]:
    """Started embedded backends under `tmp_path` for workers made in the test; fast
    encodes and retries (`overrides`: other settings)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        x264_preset="ultrafast",
        visibility_timeout=30.0,
        retry_base_delay=0.05,
        retry_max_delay=0.2,
        **overrides,
    ).validate()
    backends = Backends.from_settings(settings)
    await backends.start()
    try:
        yield Stack(settings, backends, tmp_path)
    finally:
        await backends.close()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path) as opened:
        yield opened


def level_hex(level: int) -> str:
    return f"{level:02x}"


async def verify_ready(
    stack: Stack,
    video: Video,
    *,
    names: list[str],
    sizes: list[tuple[int, int]],
    duration: float,
    audio: bool,
    segment_extension: str = ".m4s",
) -> list[VariantCheck]:
    """Everything the brief promises about a published video, checked from the store."""
    store = stack.backends.store
    assert video.status is VideoStatus.READY, video.error
    assert video.progress == 100.0 and video.error is None and video.ready_at
    assert video.duration == pytest.approx(duration, abs=0.1)
    assert [r.name for r in video.renditions] == names
    assert [(r.width, r.height) for r in video.renditions] == sizes
    assert video.version

    variants = await check_published(store, video.id, stack.tmp / f"check-{video.id}")
    assert [v.uri for v in variants] == [f"{video.version}/{name}/index.m3u8" for name in names]
    master_text = (await store.read(keys.master_key(video.id))).decode()
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in master_text
    for variant, rendition, size in zip(variants, video.renditions, sizes, strict=True):
        info = variant.stream_info
        assert info.resolution == size == (variant.width, variant.height)
        assert info.bandwidth == rendition.bandwidth > 0
        assert info.average_bandwidth == rendition.average_bandwidth > 0
        assert info.average_bandwidth <= info.bandwidth
        assert info.codecs == rendition.codecs
        video_codec = info.codecs.split(",")[0]
        assert video_codec.startswith("avc1.") and video_codec.endswith(level_hex(variant.level))
        assert ("mp4a.40.2" in info.codecs) is audio
        assert info.frame_rate > 0
        playlist = variant.playlist
        assert playlist.is_endlist and playlist.playlist_type == "vod"
        assert variant.total_duration == pytest.approx(duration, abs=0.1)
        for segment in variant.segments:
            assert segment.uri.endswith(segment_extension)
            assert segment.errors == "", segment
            assert segment.video_frames > 0
            assert segment.first_video_frame_is_key, segment
            assert (segment.audio_frames > 0) is audio
    # Keyframes forced at the same instants: every rendition cuts segments at the same times.
    assert len({tuple(s.duration for s in v.segments) for v in variants}) == 1

    poster = await store.read(keys.poster_key(video.id, video.version))
    assert poster[:3] == b"\xff\xd8\xff"
    first_playlist = keys.rendition_prefix(video.id, video.version, names[0]) + "index.m3u8"
    for key in [
        keys.master_key(video.id),
        keys.poster_key(video.id, video.version),
        first_playlist,
    ]:
        info = await store.head(key)
        assert info.content_type == content_type_for(key)
        assert info.cache_control == cache_control_for(key)
    assert all(
        key == keys.master_key(video.id)
        or key.startswith(keys.version_prefix(video.id, video.version))
        for key in await stack.keys_of(video.id)
    )
    return variants


@pytest.mark.slow
async def test_720p_clip_with_audio_is_published(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    video_id = await stack.submit(make_clip(duration=10, width=1280, height=720))
    [video] = await stack.run(video_id)
    await verify_ready(
        stack, video,
        names=["720p", "480p", "360p", "240p"],
        sizes=[(1280, 720), (854, 480), (640, 360), (426, 240)],
        duration=10.0, audio=True,
    )  # fmt: skip
    assert stack.job_rows(video_id)[0]["state"] == "done"
    assert not any(stack.settings.scratch_path.iterdir()), "scratch space left behind"
    # The upload is kept (keep_source defaults to true).
    await stack.backends.store.head(keys.source_key(video_id))


@pytest.mark.slow
async def test_silent_and_portrait_clips_two_at_once(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    silent = await stack.submit(make_clip(duration=6, width=640, height=360, audio=False))
    portrait = await stack.submit(make_clip(duration=4, width=640, height=360, rotate=90))
    silent_video, portrait_video = await stack.run(silent, portrait, worker_concurrency=2)
    await verify_ready(
        stack, silent_video, names=["360p", "240p"], sizes=[(640, 360), (426, 240)],
        duration=6.0, audio=False,
    )  # fmt: skip
    await verify_ready(
        stack, portrait_video, names=["360p", "240p"], sizes=[(360, 640), (240, 426)],
        duration=4.0, audio=True,
    )  # fmt: skip


@pytest.mark.slow
async def test_mpegts_segments(stack: Stack, make_clip: Callable[..., Path]) -> None:
    video_id = await stack.submit(make_clip(duration=6, width=640, height=360, fps=25))
    [video] = await stack.run(video_id, segment_format="ts")
    variants = await verify_ready(
        stack, video, names=["360p", "240p"], sizes=[(640, 360), (426, 240)],
        duration=6.0, audio=True, segment_extension=".ts",
    )  # fmt: skip
    assert not variants[0].playlist.segment_map
    assert variants[0].stream_info.frame_rate == 25.0


@pytest.mark.slow
async def test_text_file_fails_once_and_the_worker_goes_on(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    text = await stack.submit(b"meeting notes, definitely not a video\n" * 50)
    good = await stack.submit(make_clip(duration=2, width=320, height=240))
    failed, ready = await stack.run(text, good)
    assert failed.status is VideoStatus.FAILED
    assert failed.error is not None
    assert failed.error.startswith("the file is not a video ffmpeg can read (ffprobe: ")
    assert str(stack.tmp) not in failed.error
    assert failed.attempts == 1
    [row] = stack.job_rows(text)
    assert (row["state"], row["attempts"], row["last_error"]) == ("failed", 1, failed.error)
    assert await stack.keys_of(text) == []
    assert ready.status is VideoStatus.READY


@pytest.mark.slow
async def test_transient_failures_retry_with_backoff_then_fail(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    video_id = await stack.submit(make_clip(duration=10, width=1280, height=720), max_attempts=2)
    [video] = await stack.run(video_id, job_timeout=0.3)
    assert video.status is VideoStatus.FAILED
    assert video.error == (
        "ffmpeg ran longer than the job timeout (0.3s) and was stopped (gave up after 2 attempts)"
    )
    [row] = stack.job_rows(video_id)
    assert (row["state"], row["attempts"]) == ("failed", 2)
    assert await stack.keys_of(video_id) == []
    assert not any(stack.settings.scratch_path.iterdir())


async def test_job_over_its_attempts_after_a_crash_fails_with_a_reason(stack: Stack) -> None:
    video_id = await stack.submit(b"never looked at", max_attempts=1)
    # A worker leased it and vanished: its lease runs out without complete/fail.
    crashed = await stack.backends.queue.lease("crashed-worker", 0.05, wait=1)
    assert crashed is not None and crashed.video_id == video_id
    await asyncio.sleep(0.1)
    [video] = await stack.run(video_id)
    assert video.status is VideoStatus.FAILED
    assert video.error == (
        "gave up after 1 attempts; last problem: the worker running it stopped without finishing"
    )
    assert stack.job_rows(video_id)[0]["state"] == "failed"


async def test_a_growing_publication_left_by_the_last_attempt_is_withdrawn(
    stack: Stack,
) -> None:
    """The last allowed attempt died after its growing master was out: the video fails
    and the never-ending stream comes down with its segments."""
    video_id = await stack.submit(b"never looked at", max_attempts=1)
    crashed = await stack.backends.queue.lease("crashed-worker", 0.05, wait=1)
    assert crashed is not None and crashed.video_id == video_id
    store = stack.backends.store
    prefix = keys.video_prefix(video_id)
    for name, body in [("master.m3u8", b"#EXTM3U\nv1/360p/index.m3u8\n"),
                       ("v1/360p/index.m3u8", b"#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n"),
                       ("v1/360p/0.m4s", b"segment")]:  # fmt: skip
        key = prefix + name
        await store.put_bytes(key, body, content_type=content_type_for(key),
                              cache_control=cache_control_for(key, growing=True))  # fmt: skip
    await stack.backends.catalog.update(video_id, playable_at=time.time())
    await asyncio.sleep(0.1)
    [video] = await stack.run(video_id)
    assert video.status is VideoStatus.FAILED and video.playable_at is None
    assert await stack.keys_of(video_id) == []


async def test_a_failed_retranscode_leaves_the_finished_publication_alone(stack: Stack) -> None:
    video_id = await stack.submit(b"never looked at", max_attempts=1)
    crashed = await stack.backends.queue.lease("crashed-worker", 0.05, wait=1)
    assert crashed is not None
    master = keys.master_key(video_id)
    await stack.backends.store.put_bytes(
        master, b"#EXTM3U\n", content_type=content_type_for(master),
        cache_control=cache_control_for(master),
    )  # fmt: skip
    await asyncio.sleep(0.1)
    [video] = await stack.run(video_id)
    assert video.status is VideoStatus.FAILED
    assert await stack.backends.store.read(master) == b"#EXTM3U\n"


async def slow_job_started(stack: Stack, worker: Worker, video_id: str) -> None:
    """Wait until ffmpeg is running for this video's job (and has made progress)."""
    await stack.wait_for(video_id, {VideoStatus.PROCESSING}, within=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if running_with(str(stack.settings.scratch_path)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("ffmpeg did not start")


@pytest.mark.slow
async def test_shutdown_kills_ffmpeg_and_hands_the_job_to_the_next_worker(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    clip = make_clip(duration=6, width=640, height=360)
    video_id = await stack.submit(clip)
    slow = dataclasses.replace(stack.settings, x264_preset="veryslow")
    worker = Worker(slow, stack.backends)
    await worker.start()
    try:
        await slow_job_started(stack, worker, video_id)
    finally:
        started = time.monotonic()
        await worker.stop()
    assert time.monotonic() - started < 10
    assert running_with(str(stack.settings.scratch_path)) == []
    [row] = stack.job_rows(video_id)
    assert (row["state"], row["attempts"], row["lease_token"]) == ("queued", 0, None)
    video = await stack.backends.catalog.get(video_id)
    assert video is not None and video.status is VideoStatus.QUEUED
    assert await stack.keys_of(video_id) == []

    # Released, not expired: the next worker takes it at once and finishes it.
    [video] = await stack.run(video_id)
    assert video.status is VideoStatus.READY
    assert video.attempts == 1


@pytest.mark.slow
async def test_deleting_the_video_stops_its_transcode(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    video_id = await stack.submit(make_clip(duration=6, width=640, height=360))
    settings = dataclasses.replace(stack.settings, x264_preset="veryslow", visibility_timeout=3.0)
    worker = Worker(settings, stack.backends)
    await worker.start()
    try:
        await slow_job_started(stack, worker, video_id)
        # What deleting a video does: the record goes, its jobs are cancelled.
        assert await stack.backends.catalog.delete(video_id)
        await stack.backends.queue.cancel(video_id)
        deadline = time.monotonic() + 10
        while running_with(str(stack.settings.scratch_path)) or worker.running_jobs:
            assert time.monotonic() < deadline, "the transcode went on after the delete"
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
    assert await stack.keys_of(video_id) == []
    assert not any(stack.settings.scratch_path.iterdir())


async def test_the_master_playlist_names_parse_back(stack: Stack) -> None:
    """The variant URIs of a master are relative paths under the video's prefix."""
    text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0123abcd/240p/index.m3u8\n"
    uri = m3u8.loads(text).playlists[0].uri
    assert keys.key_for_media_path("A" * 16, uri) == f"videos/{'A' * 16}/v0123abcd/240p/index.m3u8"


def test_unique_marker_helper_finds_nothing_random() -> None:
    assert running_with(uuid.uuid4().hex) == []
