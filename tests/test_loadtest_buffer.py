"""The player's buffer on a simulated clock: start-up, playback, stalls, end."""

from __future__ import annotations

import pytest

from vodstack.loadtest.buffer import PlaybackBuffer


def test_starts_after_the_first_segment_and_plays_in_real_time() -> None:
    buffer = PlaybackBuffer(start_after=4.0, opened_at=100.0)
    assert buffer.level(100.5) == 0.0 and not buffer.playing
    buffer.append(100.5, 4.0)
    assert buffer.playing
    assert buffer.startup_seconds == pytest.approx(0.5)
    assert buffer.level(101.5) == pytest.approx(3.0)
    buffer.append(101.5, 4.0)
    assert buffer.level(103.5) == pytest.approx(5.0)
    assert buffer.stalls == 0


def test_running_empty_mid_video_is_a_stall_until_enough_is_buffered_again() -> None:
    buffer = PlaybackBuffer(start_after=2.0, opened_at=0.0)
    buffer.append(1.0, 2.0)  # plays from t=1, runs out at t=3
    assert buffer.level(5.0) == 0.0
    assert buffer.stalls == 1 and buffer.stalled_since == pytest.approx(3.0)
    buffer.append(6.0, 2.0)  # resumes at t=6: 3 s stalled
    assert buffer.playing
    assert buffer.stall_seconds == pytest.approx(3.0)
    assert buffer.startup_seconds == pytest.approx(1.0)  # start-up is not a stall


def test_running_out_after_the_last_segment_is_the_end_not_a_stall() -> None:
    buffer = PlaybackBuffer(start_after=2.0, opened_at=0.0)
    buffer.append(0.5, 2.0)
    buffer.append(1.0, 2.0, last=True)
    assert buffer.seconds_until_end(1.0) == pytest.approx(3.5)
    buffer.advance(10.0)
    assert buffer.ended and buffer.ended_at == pytest.approx(4.5)
    assert buffer.stalls == 0


def test_a_short_last_segment_starts_playback_below_the_threshold() -> None:
    buffer = PlaybackBuffer(start_after=4.0, opened_at=0.0)
    buffer.append(0.2, 1.0, last=True)
    assert buffer.playing


def test_time_until_the_buffer_drains_to_a_target_scales_with_speed() -> None:
    buffer = PlaybackBuffer(start_after=4.0, opened_at=0.0, speed=4.0)
    for _ in range(5):
        buffer.append(0.0, 4.0)  # 20 s of media at t=0, playing 4x
    assert buffer.seconds_until_level(0.0, 12.0) == pytest.approx(2.0)
    assert buffer.seconds_until_level(3.0, 12.0) == 0.0
    assert buffer.level(3.0) == pytest.approx(8.0)


def test_before_playback_there_is_no_reason_to_wait() -> None:
    buffer = PlaybackBuffer(start_after=8.0, opened_at=0.0)
    buffer.append(0.1, 4.0)
    assert buffer.seconds_until_level(0.1, 2.0) == 0.0


def test_closing_during_a_stall_counts_the_stall_up_to_then() -> None:
    buffer = PlaybackBuffer(start_after=2.0, opened_at=0.0)
    buffer.append(0.0, 2.0)
    buffer.close(5.0)
    assert buffer.stalls == 1
    assert buffer.stall_seconds == pytest.approx(3.0)
    buffer.close(4.0)  # closing at an earlier time than the last update changes nothing
    assert buffer.stall_seconds == pytest.approx(3.0)


def test_time_never_goes_backwards() -> None:
    buffer = PlaybackBuffer(start_after=2.0, opened_at=10.0)
    with pytest.raises(ValueError):
        buffer.advance(9.0)
    with pytest.raises(ValueError):
        PlaybackBuffer(start_after=2.0, opened_at=0.0, speed=0)
