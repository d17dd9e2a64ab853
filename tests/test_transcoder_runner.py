"""The ffmpeg runner with real processes: failures, timeouts, cancellation, orphans."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT
from transcoder.errors import FfmpegError, FfmpegInputError, FfmpegTimeout
from transcoder.runner import run_capture, run_ffmpeg

pytestmark = pytest.mark.slow


def endless_ffmpeg(marker: str) -> list[str]:
    """An ffmpeg that runs (in real time) until killed; `marker` makes it findable."""
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
        "-progress", "pipe:1", "-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10",
        "-metadata", f"title={marker}", "-f", "null", "-",
    ]  # fmt: skip


def running_with(marker: str, program: str | None = None) -> list[int]:
    """Live (non-zombie) processes whose command line contains `marker` (and, if given,
    whose program is `program`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() not in cmdline or state == "Z":
            continue
        if program is not None and Path(cmdline.split(b"\0")[0].decode()).name != program:
            continue
        found.append(int(entry.name))
    return found


def wait_until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


async def test_progress_reaches_100_on_success(tmp_path: Path) -> None:
    reported: list[float] = []
    await run_ffmpeg(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1",
         "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=2", "-f", "null", "-"],
        time_limit=60, duration=2.0, on_progress=reported.append,
    )  # fmt: skip
    assert reported[-1] == 100.0


async def test_input_that_is_not_a_video_fails_permanently(tmp_path: Path) -> None:
    text = tmp_path / "source"
    text.write_text("not a video\n" * 100)
    cmd = ["ffmpeg", "-nostdin", "-i", str(text), "-f", "null", "-"]
    with pytest.raises(FfmpegInputError) as caught:
        await run_ffmpeg(cmd, time_limit=60, duration=1.0, hide_paths=[text])
    error = caught.value
    assert error.command == cmd
    assert error.returncode == 1
    assert any("Invalid data found" in line for line in error.stderr_tail)
    assert len(error.stderr_tail) <= 30
    assert "Invalid data found when processing input" in error.reason
    assert str(tmp_path) not in error.reason
    assert str(text) in error.details()


async def test_other_failures_are_not_blamed_on_the_input(tmp_path: Path) -> None:
    cmd = ["ffmpeg", "-nostdin", "-f", "lavfi", "-i", "testsrc2=duration=1", "-c:v",
           "no_such_encoder", str(tmp_path / "x.mp4")]  # fmt: skip
    with pytest.raises(FfmpegError) as caught:
        await run_ffmpeg(cmd, time_limit=60, duration=1.0)
    assert not isinstance(caught.value, FfmpegInputError)
    assert caught.value.stderr_tail


async def test_missing_binary_is_a_clear_error() -> None:
    with pytest.raises(FfmpegError, match="not found"):
        await run_ffmpeg(["/nonexistent/ffmpeg"], time_limit=5, duration=1.0)


async def test_timeout_kills_ffmpeg() -> None:
    marker = uuid.uuid4().hex
    started = time.monotonic()
    with pytest.raises(FfmpegTimeout, match="longer than"):
        await run_ffmpeg(endless_ffmpeg(marker), time_limit=1.0, duration=10.0)
    assert time.monotonic() - started < 10
    assert running_with(marker) == []


async def test_cancelling_the_task_kills_ffmpeg() -> None:
    marker = uuid.uuid4().hex
    progress = asyncio.Event()
    task = asyncio.create_task(
        run_ffmpeg(endless_ffmpeg(marker), time_limit=60, duration=10.0,
                   on_progress=lambda percent: progress.set())
    )  # fmt: skip
    await asyncio.wait_for(progress.wait(), 10)
    assert len(running_with(marker)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running_with(marker) == []


async def test_capture_timeout_kills_the_command() -> None:
    marker = uuid.uuid4().hex
    with pytest.raises(FfmpegTimeout):
        await run_capture(endless_ffmpeg(marker), time_limit=0.5)
    assert running_with(marker) == []


CHILD = """
import asyncio, sys
from transcoder.runner import run_ffmpeg
from tests.test_transcoder_runner import endless_ffmpeg
asyncio.run(run_ffmpeg(endless_ffmpeg(sys.argv[1]), time_limit=600, duration=10.0))
"""


def test_ffmpeg_dies_with_a_killed_worker() -> None:
    """SIGKILL leaves no chance to clean up: PR_SET_PDEATHSIG makes the kernel do it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    marker = uuid.uuid4().hex
    worker = subprocess.Popen(
        [sys.executable, "-c", CHILD, marker],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    try:
        assert wait_until(lambda: running_with(marker, "ffmpeg"), timeout=30)
        ffmpeg_pids = running_with(marker, "ffmpeg")
        # ffmpeg runs in its own process group, so the worker's group signal would miss it.
        assert os.getpgid(ffmpeg_pids[0]) != os.getpgid(worker.pid)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert wait_until(lambda: not running_with(marker), timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        for pid in running_with(marker):
            os.kill(pid, signal.SIGKILL)
