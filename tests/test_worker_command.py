"""`vodstack worker` as a real process: health endpoints, a job, and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT, VodstackProcess
from tests.test_transcoder_runner import running_with
from transcoder.worker import Worker
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video, VideoStatus
from vodstack.settings import Settings

pytestmark = pytest.mark.slow


def get_json(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


async def wait_status(backends: Backends, video_id: str, wanted: set[VideoStatus]) -> Video:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        video = await backends.catalog.get(video_id)
        if video is not None and video.status in wanted:
            return video
        await asyncio.sleep(0.1)
    raise AssertionError(f"{video_id} never reached {wanted}")


async def test_worker_command_transcodes_and_hands_back_its_job_on_sigterm(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data).validate()
    common = ["--data-dir", str(data), "--host", "127.0.0.1", "--port", "0"]
    slow = start_vodstack("worker", *common, "--x264-preset", "veryslow", name="slow-worker")

    status, body = await asyncio.to_thread(get_json, slow.url + "/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, body = await asyncio.to_thread(get_json, slow.url + "/readyz")
    assert (status, body) == (200, {"status": "ok"})

    backends = Backends.from_settings(settings)
    await backends.start()
    try:
        video_id = keys.new_video_id()
        source = keys.source_key(video_id)
        clip = make_clip(duration=6, width=640, height=360)
        await backends.store.put_file(source, clip, content_type="video/mp4")
        await backends.catalog.create(Video(id=video_id))
        await backends.queue.enqueue(
            video_id, {"video_id": video_id, "source_key": source}, max_attempts=3
        )
        await wait_status(backends, video_id, {VideoStatus.PROCESSING})
        scratch = str(settings.scratch_path.resolve())
        deadline = time.monotonic() + 30
        while not running_with(scratch):
            assert time.monotonic() < deadline, slow.log_text()
            await asyncio.sleep(0.05)

        stopped = time.monotonic()
        assert await asyncio.to_thread(slow.stop) == 0
        assert time.monotonic() - stopped < 15
        assert running_with(scratch) == []
        with sqlite3.connect(data / "vodstack.db") as db:
            state, attempts = db.execute(
                "SELECT state, attempts FROM jobs WHERE video_id = ?", (video_id,)
            ).fetchone()
        assert (state, attempts) == ("queued", 0)
        assert "job abandoned" in slow.log_text()

        fast = start_vodstack("worker", *common, "--x264-preset", "ultrafast", name="fast-worker")
        video = await wait_status(backends, video_id, {VideoStatus.READY, VideoStatus.FAILED})
        assert video.status is VideoStatus.READY, video.error
        await backends.store.head(keys.master_key(video_id))
        assert await asyncio.to_thread(fast.stop) == 0
        assert "job succeeded" in fast.log_text()
    finally:
        await backends.close()


def test_worker_command_refuses_zero_concurrency(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vodstack", "worker", "--data-dir", str(tmp_path),
         "--worker-concurrency", "0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "worker_concurrency must be at least 1" in result.stderr


async def test_a_worker_that_lost_its_lease_stops_and_leaves_the_new_owner_alone(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """Worker A is frozen (SIGSTOP) past its lease; B takes the job over and publishes it.
    When A wakes up, its heartbeat fails: it kills its ffmpeg and writes nothing."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data, visibility_timeout=3.0, x264_preset="ultrafast").validate()
    frozen = start_vodstack(
        "worker", "--data-dir", str(data), "--port", "0", "--visibility-timeout", "3",
        "--x264-preset", "veryslow", name="frozen-worker",
    )  # fmt: skip
    backends = Backends.from_settings(settings)
    await backends.start()
    try:
        video_id = keys.new_video_id()
        source = keys.source_key(video_id)
        await backends.store.put_file(source, make_clip(duration=6, width=640, height=360),
                                      content_type="video/mp4")  # fmt: skip
        await backends.catalog.create(Video(id=video_id))
        job_id = await backends.queue.enqueue(
            video_id, {"video_id": video_id, "source_key": source}, max_attempts=3
        )
        await wait_status(backends, video_id, {VideoStatus.PROCESSING})
        first_attempt = f"{job_id}-1"
        deadline = time.monotonic() + 30
        while not running_with(first_attempt):
            assert time.monotonic() < deadline, frozen.log_text()
            await asyncio.sleep(0.05)

        frozen.signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(settings.visibility_timeout + 0.5)
            taker = Worker(settings, backends)
            await taker.start()
            try:
                video = await wait_status(
                    backends, video_id, {VideoStatus.READY, VideoStatus.FAILED}
                )
            finally:
                await taker.stop()
        finally:
            frozen.signal(signal.SIGCONT)
        assert video.status is VideoStatus.READY and video.attempts == 2

        deadline = time.monotonic() + 10
        while running_with(first_attempt) or "job abandoned" not in frozen.log_text():
            assert time.monotonic() < deadline, frozen.log_text()
            await asyncio.sleep(0.1)
        assert "lease lost" in frozen.log_text()
        await asyncio.sleep(1.5)  # anything A might still write would land by now
        after = await backends.catalog.get(video_id)
        assert after is not None
        assert (after.status, after.progress, after.version) == (
            VideoStatus.READY, 100.0, video.version,
        )  # fmt: skip
        stored = [info.key async for info in backends.store.list(keys.video_prefix(video_id))]
        assert stored and all(
            key == keys.master_key(video_id) or f"/{video.version}/" in key for key in stored
        )
        assert await asyncio.to_thread(frozen.stop) == 0
    finally:
        await backends.close()
