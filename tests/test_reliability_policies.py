"""The pure parts of the failure handling, without servers: scratch estimates, the stall
clock, truncation, duration limits, shutdown estimates, the store breaker's decisions."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from edge_cache.breaker import State
from origin.breaker import BreakerSource, StoreCircuitOpen
from origin.source import ObjectChanged
from tests.test_transcoder_probe import captured
from transcoder.errors import PermanentJobError
from transcoder.ladder import ladder_for
from transcoder.probe import format_duration, parse_probe
from transcoder.runner import StallClock, truncation_reason
from transcoder.scratch import ScratchSpaceUnavailable, check_fits, scratch_needed
from transcoder.worker import ActiveJob
from vodstack.errors import StoreUnavailable
from vodstack.queue import Job
from vodstack.settings import SettingsError, load_settings
from vodstack.store import ObjectInfo


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- scratch space ----------------------------------------------------------------------


def test_scratch_estimate_counts_every_rung_at_its_peak_rate_and_the_download() -> None:
    info = parse_probe(captured("h264_720p30_aac.mp4"))
    rungs = ladder_for(info)
    peak = sum(rung.maxrate + (rung.audio_bitrate or 0) for rung in rungs)
    in_place = scratch_needed(duration=600, rungs=rungs)
    assert in_place > peak / 8 * 600  # more than the nominal bytes: overhead included
    assert in_place < peak / 8 * 600 * 1.5 + 8 * 1024**2
    assert scratch_needed(duration=600, rungs=rungs, source_size=10**9) == in_place + 10**9
    assert scratch_needed(duration=0, rungs=()) > 0


def test_a_job_that_would_eat_into_the_reserve_is_refused_with_the_figures() -> None:
    check_fits(needed=10 * 1024**2, free=2 * 1024**3, min_free=1024**3, what="x")
    with pytest.raises(ScratchSpaceUnavailable) as refused:
        check_fits(needed=1536 * 1024**2, free=2 * 1024**3, min_free=1024**3, what="the upload")
    assert refused.value.reason == (
        "not enough scratch space on the worker for the upload: needs about 1.5 GiB plus "
        "1 GiB kept free, 2 GiB available; it will be tried again later"
    )


# -- stalls, truncation, limits ----------------------------------------------------------


def test_the_stall_clock_restarts_only_when_the_position_moves_forward() -> None:
    clock = FakeClock()
    stall = StallClock(clock)
    clock.now += 5
    assert stall.stalled_for() == 5
    stall.observe(-1.0)  # "N/A" before the first frame: not progress
    assert stall.stalled_for() == 5
    stall.observe(0.5)
    assert stall.stalled_for() == 0
    clock.now += 3
    stall.observe(0.5)  # the same position again: still stalled
    stall.observe(0.2)
    assert stall.stalled_for() == 3


@pytest.mark.parametrize(
    ("declared", "encoded", "stderr", "truncated"),
    [
        (10.0, 5.0, ["stream 0, offset 0x4a: partial file"], True),
        (10.0, 5.0, ["Error while decoding stream #0:0: Invalid data found when processing"],
         True),
        (10.0, 9.5, ["partial file"], False),  # most of it: a damaged tail is published
        (10.0, 5.0, [], False),  # shorter without read errors: the container overstated it
        (0.0, 0.0, ["partial file"], False),
    ],
)  # fmt: skip
def test_truncation_needs_both_a_short_output_and_read_errors(
    declared: float, encoded: float, stderr: list[str], truncated: bool
) -> None:
    reason = truncation_reason(declared, encoded, stderr)
    assert (reason is not None) is truncated
    if reason:
        assert reason.startswith(f"the file is truncated: only {encoded:.1f}s of its 10.0s")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(2.5, "2.5s"), (20, "20s"), (90, "1m 30s"), (3600, "1h"), (6 * 3600 + 60, "6h 1m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_videos_longer_than_max_duration_are_refused() -> None:
    data = captured("h264_720p30_aac.mp4")
    duration = float(data["format"]["duration"])
    parse_probe(data, max_duration=duration + 1)
    with pytest.raises(PermanentJobError, match=r"long; the longest accepted is 5s$"):
        parse_probe(data, max_duration=5)


def test_new_settings_are_validated() -> None:
    settings = load_settings(
        environ={"VODSTACK_MAX_DURATION": "2h", "VODSTACK_MIN_FREE_SPACE": "5GiB"}
    )
    assert settings.max_duration == 7200 and settings.min_free_space == 5 * 1024**3
    with pytest.raises(SettingsError) as problems:
        load_settings(
            environ={"VODSTACK_FFMPEG_NICE": "25", "VODSTACK_STORE_BREAKER_THRESHOLD": "0"}
        )
    assert "ffmpeg_nice" in str(problems.value) and "store_breaker" in str(problems.value)


def test_shutdown_estimate_of_a_job_follows_its_progress() -> None:
    job = Job(id="j", video_id="v", attempts=1, max_attempts=3, lease_token="t")
    active = ActiveJob(job, started=100.0)
    assert active.expected_left(110.0) == math.inf  # no progress yet: unknown
    active.progress = 80.0
    assert active.expected_left(140.0) == pytest.approx(10.0)  # 40 s for 80 %: 10 s left


# -- the store breaker --------------------------------------------------------------------

INFO = ObjectInfo(key="videos/x/master.m3u8", size=1, etag='"e"', last_modified=0.0)


class ScriptedSource:
    """Answers (or fails) as told; counts the calls that reached it."""

    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    async def resolve(self, key: str) -> ObjectInfo | None:
        self.calls += 1
        await asyncio.sleep(0)
        if self.failing:
            raise StoreUnavailable("no answer")
        return INFO

    async def open(self, info: ObjectInfo, start: int, length: int) -> object:
        self.calls += 1
        raise ObjectChanged(info.key)


async def test_the_breaker_stops_calling_a_failing_store_probes_it_and_closes() -> None:
    clock, inner = FakeClock(), ScriptedSource()
    source = BreakerSource(inner, threshold=3, cooldown=5.0, clock=clock)  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            await source.resolve("k")
    assert source.state is State.OPEN and inner.calls == 3
    with pytest.raises(StoreCircuitOpen) as refused:
        await source.resolve("k")
    assert inner.calls == 3  # not asked
    assert refused.value.retry_after_header == "5"
    clock.now += 4.2
    with pytest.raises(StoreCircuitOpen) as refused:
        await source.resolve("k")
    assert refused.value.retry_after_header == "1"

    clock.now += 1.0  # cooldown over: one probe, which fails: open again
    with pytest.raises(StoreUnavailable) as failed:
        await source.resolve("k")
    assert not isinstance(failed.value, StoreCircuitOpen) and inner.calls == 4
    assert source.state is State.OPEN

    clock.now += 5.0
    inner.failing = False
    assert await source.resolve("k") == INFO
    assert source.state is State.CLOSED
    with pytest.raises(ObjectChanged):  # the store answered: not a failure
        await source.open(INFO, 0, 1)
    assert source.state is State.CLOSED


async def test_only_one_probe_at_a_time_while_half_open() -> None:
    clock, inner = FakeClock(), ScriptedSource()
    source = BreakerSource(inner, threshold=1, cooldown=1.0, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        await source.resolve("k")
    clock.now += 1.5
    inner.failing = False
    results = await asyncio.gather(
        *(source.resolve("k") for _ in range(5)), return_exceptions=True
    )
    assert sum(result == INFO for result in results) == 1
    assert sum(isinstance(result, StoreCircuitOpen) for result in results) == 4
    assert await source.resolve("k") == INFO  # closed now: everyone goes through


def test_breaker_source_is_what_the_origin_uses(tmp_path: Path) -> None:
    from origin.app import create_app
    from origin.handlers import SOURCE
    from tests.support.origin_server import origin_settings

    app = create_app(origin_settings(tmp_path))
    assert isinstance(app[SOURCE], BreakerSource)


def test_malformed_requests_are_logged_as_one_info_line() -> None:
    import logging

    from aiohttp.http_exceptions import BadStatusLine

    from vodstack.logs import MalformedRequestFilter

    try:
        raise BadStatusLine("GET / HTTP/9.9")
    except BadStatusLine:
        import sys

        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
            ("127.0.0.1",), sys.exc_info(),
        )  # fmt: skip
    MalformedRequestFilter().filter(record)
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.getMessage().startswith(
        "Error handling request from 127.0.0.1: refused a malformed request ("
    )
    crash = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "boom", (), None)
    assert MalformedRequestFilter().filter(crash) and crash.levelno == logging.ERROR


def test_ffmpeg_failure_reasons_never_show_server_paths() -> None:
    from transcoder.errors import FfmpegError
    from transcoder.worker import describe_failure

    source = "/var/lib/vodstack/store/data/uploads/AbCdEfGhIjKlMnOp/source"
    error = FfmpegError(
        "ffmpeg exited with status 1", command=["ffmpeg", "-i", source], returncode=1,
        stderr_tail=[f"{source}: Input/output error"], hide_paths=[source],
    )  # fmt: skip
    reason = describe_failure(error)
    assert reason == "ffmpeg exited with status 1 (Input/output error)"
    assert "/var/lib" in error.details()  # the log keeps the whole story
