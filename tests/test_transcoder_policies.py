"""Small pure rules of the worker: retry delays, progress parsing and throttling, and
which ffmpeg failures are the input's fault."""

from __future__ import annotations

import random

import pytest

from transcoder.errors import FfmpegError, FfmpegTimeout
from transcoder.progress import Throttle
from transcoder.retry import retry_delay
from transcoder.runner import ProgressParser, clean_line, input_failure_reason
from transcoder.worker import describe_failure
from vodstack.errors import StoreUnavailable

# -- retry delay -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0), (9, 300.0), (40, 300.0)]
)
def test_retry_delay_is_full_jitter_under_an_exponential_ceiling(
    attempt: int, ceiling: float
) -> None:
    rng = random.Random(7)
    delays = [retry_delay(attempt, 2.0, 300.0, rng) for _ in range(2000)]
    assert all(0.0 <= delay <= ceiling for delay in delays)
    # Full jitter spreads over the whole range, not just near the ceiling.
    assert min(delays) < ceiling * 0.05
    assert max(delays) > ceiling * 0.95


def test_retry_delay_is_deterministic_for_a_seeded_rng() -> None:
    assert retry_delay(3, 1.0, 10.0, random.Random(1)) == retry_delay(
        3, 1.0, 10.0, random.Random(1)
    )


def test_retry_delay_with_zero_base_is_immediate() -> None:
    assert retry_delay(5, 0.0, 10.0, random.Random(1)) == 0.0


# -- progress --------------------------------------------------------------------------

BLOCK = """frame=150
fps=75.00
out_time_us={us}
out_time_ms={us}
out_time=00:00:05.000000
speed=2.5x
progress={state}
"""


def feed(parser: ProgressParser, text: str) -> list[float]:
    reported = []
    for line in text.splitlines():
        percent = parser.feed(line)
        if percent is not None:
            reported.append(percent)
    return reported


def test_progress_is_reported_once_per_block() -> None:
    parser = ProgressParser(duration=10.0)
    text = BLOCK.format(us=2_500_000, state="continue") + BLOCK.format(
        us=5_000_000, state="continue"
    )
    assert feed(parser, text) == [25.0, 50.0]


def test_progress_end_is_100() -> None:
    parser = ProgressParser(duration=10.0)
    assert feed(parser, BLOCK.format(us=9_900_000, state="end")) == [100.0]


def test_progress_before_the_first_frame_and_past_the_end() -> None:
    parser = ProgressParser(duration=10.0)
    assert feed(parser, "out_time_us=N/A\nprogress=continue\n") == [0.0]
    assert feed(parser, "out_time_us=-23000\nprogress=continue\n") == [0.0]
    assert feed(parser, "out_time_us=12000000\nprogress=continue\n") == [100.0]


def test_progress_never_goes_backwards() -> None:
    parser = ProgressParser(duration=10.0)
    assert feed(
        parser, "out_time_us=6000000\nprogress=continue\nout_time_us=5000000\nprogress=continue\n"
    ) == [60.0, 60.0]


def test_throttle_allows_one_event_per_interval() -> None:
    now = [100.0]
    throttle = Throttle(1.0, clock=lambda: now[0])
    assert throttle.ready()
    now[0] = 100.5
    assert not throttle.ready()
    now[0] = 101.0
    assert throttle.ready()
    assert not throttle.ready()


# -- failure classification ------------------------------------------------------------


def test_invalid_input_is_permanent_and_hides_paths() -> None:
    tail = [
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c1a2b3c0] moov atom not found",
        "/srv/data/uploads/abc/source: Invalid data found when processing input",
    ]
    reason = input_failure_reason(tail, 1, hide=["/srv/data/uploads/abc/source"])
    assert reason == (
        "the file is corrupt or not a video ffmpeg can read "
        "(ffmpeg: Invalid data found when processing input)"
    )


def test_missing_moov_atom_is_a_truncated_upload() -> None:
    reason = input_failure_reason(["[mov,mp4 @ 0x1] moov atom not found"], 1)
    assert reason is not None and "incomplete" in reason and "@ 0x" not in reason


@pytest.mark.parametrize(
    ("tail", "returncode"),
    [
        (["Invalid data found when processing input"], -9),  # killed: not the input's fault
        (["av_interleaved_write_frame(): No space left on device"], 1),
        (["Cannot allocate memory"], 1),
        (["Conversion failed!"], 1),
        ([], 1),
    ],
)
def test_machine_trouble_and_unknown_failures_are_transient(
    tail: list[str], returncode: int
) -> None:
    assert input_failure_reason(tail, returncode) is None


def test_clean_line() -> None:
    assert clean_line(
        "[hls @ 0xdeadbeef] Opening '/tmp/x/out/720p/0.m4s' for writing", ["/tmp/x"]
    ) == ("Opening 'input/out/720p/0.m4s' for writing")


def test_transient_failure_descriptions_are_readable() -> None:
    timeout = FfmpegTimeout(
        "ffmpeg ran longer than the job timeout (60s) and was stopped",
        command=["ffmpeg"],
        returncode=None,
        stderr_tail=[],
    )
    assert (
        describe_failure(timeout) == "ffmpeg ran longer than the job timeout (60s) and was stopped"
    )
    crashed = FfmpegError(
        "ffmpeg exited with status 1",
        command=["ffmpeg"],
        returncode=1,
        stderr_tail=["[libx264 @ 0x1] something odd"],
    )
    assert describe_failure(crashed) == "ffmpeg exited with status 1 (something odd)"
    assert "object store was unavailable" in describe_failure(
        StoreUnavailable("connection refused")
    )
    assert describe_failure(KeyError("x")) == "internal error (KeyError); see the worker log"
