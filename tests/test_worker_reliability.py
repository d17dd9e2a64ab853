"""The worker under faults, in-process on real backends with a real ffmpeg: a hung ffmpeg,
a full disk, a deletion mid-transcode, a shutdown near the end of a job, dead workers'
scratch space."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.hls import http_json, upload_file
from tests.support.processes import VodstackProcess
from tests.support.proctree import alive, ffmpeg_under, program
from tests.test_transcoder_runner import running_with
from tests.test_transcoder_worker import Stack, open_stack, slow_job_started
from transcoder.scratch import ScratchSpace
from transcoder.worker import Worker
from vodstack.backends import Backends
from vodstack.catalog import VideoStatus
from vodstack.settings import Settings


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path) as opened:
        yield opened


async def ffmpeg_of(stack: Stack, within: float = 30) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = running_with(str(stack.settings.scratch_path), "ffmpeg")
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError("ffmpeg did not start")


@pytest.mark.slow
async def test_a_hung_ffmpeg_is_killed_by_the_stall_watchdog(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    video_id = await stack.submit(make_clip(duration=6, width=640, height=360), max_attempts=1)
    settings = dataclasses.replace(
        stack.settings, x264_preset="veryslow", ffmpeg_stall_timeout=2.0
    )
    worker = Worker(settings, stack.backends)
    await worker.start()
    try:
        pid = await ffmpeg_of(stack)
        os.kill(pid, signal.SIGSTOP)  # hung: alive, but its output position stands still
        frozen_at = time.monotonic()
        video = await stack.wait_for(video_id, {VideoStatus.READY, VideoStatus.FAILED}, 30)
        took = time.monotonic() - frozen_at
    finally:
        await worker.stop()
    assert video.status is VideoStatus.FAILED
    assert video.error == (
        "ffmpeg made no progress for 2s and was stopped (gave up after 1 attempts)"
    )
    assert took < 2.0 + 5.0, took
    assert running_with(str(stack.settings.scratch_path), "ffmpeg") == []
    assert await stack.keys_of(video_id) == []


@pytest.mark.slow
async def test_a_job_that_does_not_fit_on_the_disk_is_handed_back_then_failed(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    video_id = await stack.submit(make_clip(duration=4, width=320, height=240), max_attempts=2)
    [video] = await stack.run(video_id, min_free_space=1024**5)
    assert video.status is VideoStatus.FAILED
    assert video.error is not None
    assert video.error.startswith("not enough scratch space on the worker for the renditions: ")
    assert video.error.endswith("(gave up after 2 attempts)")
    assert "1 PiB kept free" in video.error
    [row] = stack.job_rows(video_id)
    assert (row["state"], row["attempts"]) == ("failed", 2)
    assert await stack.keys_of(video_id) == []
    assert not any(stack.settings.scratch_path.iterdir())


@pytest.mark.slow
async def test_deletion_is_noticed_within_seconds_whatever_the_visibility_timeout(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    video_id = await stack.submit(make_clip(duration=6, width=640, height=360))
    settings = dataclasses.replace(
        stack.settings, x264_preset="veryslow", visibility_timeout=60.0
    )
    worker = Worker(settings, stack.backends)
    await worker.start()
    try:
        await slow_job_started(stack, worker, video_id)
        deleted_at = time.monotonic()
        assert await stack.backends.catalog.delete(video_id)  # as DELETE /v1/videos/<id>
        await stack.backends.queue.cancel(video_id)
        while running_with(str(stack.settings.scratch_path), "ffmpeg") or worker.running_jobs:
            assert time.monotonic() - deleted_at < 6, "the transcode went on after the delete"
            await asyncio.sleep(0.05)
        noticed = time.monotonic() - deleted_at
    finally:
        await worker.stop()
    assert await stack.keys_of(video_id) == []
    print(f"deletion noticed after {noticed:.1f}s")


@pytest.mark.slow
async def test_shutdown_lets_a_job_finish_when_its_progress_says_it_will(
    stack: Stack, make_clip: Callable[..., Path]
) -> None:
    video_id = await stack.submit(make_clip(duration=30, width=320, height=240, fps=25))
    settings = dataclasses.replace(stack.settings, x264_preset="medium")
    worker = Worker(settings, stack.backends)
    await worker.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            video = await stack.backends.catalog.get(video_id)
            assert video is not None
            if video.status is VideoStatus.PROCESSING and video.progress >= 30:
                break
            assert video.status is not VideoStatus.READY, "finished before the test stopped it"
            assert time.monotonic() < deadline, video
            await asyncio.sleep(0.05)
    finally:
        await worker.stop(grace=60.0)
    video = await stack.backends.catalog.get(video_id)
    assert video is not None and video.status is VideoStatus.READY, video
    assert video.attempts == 1
    [row] = stack.job_rows(video_id)
    assert row["state"] == "done"


def test_a_dead_workers_scratch_space_is_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    holder = (
        "import asyncio, sys, time\n"
        "from pathlib import Path\n"
        "from transcoder.scratch import ScratchSpace\n"
        "space = ScratchSpace(Path(sys.argv[1]))\n"
        "asyncio.run(space.open())\n"
        "space.job_dir('job-1').mkdir()\n"
        "(space.job_dir('job-1') / 'segment.m4s').write_bytes(b'x' * 1000)\n"
        "print(space.directory, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    live, dead = (
        subprocess.Popen(
            [sys.executable, "-c", holder, str(root)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    )
    try:
        assert live.stdout is not None and dead.stdout is not None
        live_dir = Path(live.stdout.readline().strip())
        dead_dir = Path(dead.stdout.readline().strip())
        dead.kill()
        dead.wait(10)
        space = ScratchSpace(root)
        assert asyncio.run(space.open()) == 1
        assert not dead_dir.exists()
        assert (live_dir / "job-1" / "segment.m4s").exists()
        asyncio.run(space.close())
        assert not space.directory.exists() and live_dir.exists()
    finally:
        for process in (live, dead):
            process.kill()
            process.wait(10)


@pytest.mark.slow
async def test_a_worker_waking_up_after_its_video_was_deleted_leaves_nothing(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The worker is frozen while its ffmpeg (its own process group) runs on and finishes;
    the video is deleted through the API meanwhile. When the worker wakes up it holds a
    finished encode of a deleted video: it must publish nothing that stays."""
    data = str(tmp_path / "data")
    common = ("--data-dir", data, "--host", "127.0.0.1", "--port", "0")
    ingest = start_vodstack("ingest", *common, name="ingest")
    worker = start_vodstack("worker", *common, "--x264-preset", "medium", name="worker")
    status, created, _ = await asyncio.to_thread(
        upload_file, ingest.url, make_clip(duration=6, width=640, height=360)
    )
    assert status == 201
    video_id = created["id"]
    deadline = time.monotonic() + 60
    while True:  # ffmpeg is encoding (it has read the upload and reported progress)
        encoders = [p for p in ffmpeg_under(worker.proc.pid) if program(p) == "ffmpeg"]
        _code, state = await asyncio.to_thread(http_json, created["status_url"])
        if encoders and state.get("progress", 0) > 0:
            break
        assert time.monotonic() < deadline, worker.log_text()
        await asyncio.sleep(0.1)

    worker.signal(signal.SIGSTOP)
    try:
        code, _ = await asyncio.to_thread(http_json, created["status_url"], "DELETE")
        assert code == 204
        deadline = time.monotonic() + 120
        while any(alive(pid) for pid in encoders):  # ffmpeg finishes on its own
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        worker.signal(signal.SIGCONT)
    await asyncio.sleep(5)  # whatever the worker would write lands by now

    settings = Settings(data_dir=Path(data)).validate()
    backends = Backends.from_settings(settings)
    await backends.start()
    try:
        assert await backends.catalog.get(video_id) is None
        left = [info.key async for info in backends.store.list("")]
        assert left == [], left
    finally:
        await backends.close()
    log = worker.log_text()
    assert "job succeeded" not in log and "job abandoned" in log, log
    assert await asyncio.to_thread(worker.stop) == 0
    assert not any((Path(data) / "scratch").iterdir())
