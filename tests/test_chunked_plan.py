"""Chunk plans: where a video is cut, what each part is, and the progress of the whole."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import pytest

from transcoder.chunked.plan import (
    AUDIO_PART,
    AudioRendition,
    ChunkPlan,
    first_frame_at,
    plan_chunks,
    version_for,
)
from transcoder.ffmpeg_args import EncodeOptions, keyframe_expression
from transcoder.ladder import ladder_for
from transcoder.probe import AudioInfo, ProbeResult, VideoInfo
from vodstack.settings import Settings, SettingsError

STEREO = AudioInfo(index=1, codec="aac", channels=2, sample_rate=48000)
OPTIONS = EncodeOptions(segment_duration=4.0, keyframe_interval=2.0)


def source(
    duration: float,
    *,
    rate: Fraction = Fraction(30),
    height: int = 720,
    audio: AudioInfo | None = STEREO,
) -> ProbeResult:
    video = VideoInfo(
        index=0, codec="h264", pix_fmt="yuv420p", width=height * 16 // 9, height=height,
        sample_aspect_ratio=Fraction(1), rotation=0, frame_rate=rate, variable_frame_rate=False,
    )  # fmt: skip
    return ProbeResult(format_name="mp4", duration=duration, video=video, audio=audio)


def plan_for(
    duration: float, chunk: float = 8.0, options: EncodeOptions = OPTIONS, **kwargs: object
) -> ChunkPlan:
    info = source(duration, **kwargs)  # type: ignore[arg-type]
    plan = plan_chunks(info, ladder_for(info), options, chunk)
    assert plan is not None
    return plan


def test_a_24s_video_in_8s_chunks_is_three_chunks_of_240_frames_and_the_audio() -> None:
    plan = plan_for(24.0)
    assert [(c.start_frame, c.end_frame) for c in plan.chunks] == [
        (0, 240), (240, 480), (480, None),
    ]  # fmt: skip
    assert [c.first_segment for c in plan.chunks] == [0, 2, 4]
    assert [c.first_keyframe for c in plan.chunks] == [0, 4, 8]
    assert plan.parts == ("v0", "v1", "v2", AUDIO_PART)
    assert [plan.chunk_seconds(c) for c in plan.chunks] == [8.0, 8.0, 8.0]


def test_the_last_chunk_takes_the_remainder_and_short_videos_are_not_split() -> None:
    plan = plan_for(23.5)
    assert len(plan.chunks) == 2
    assert plan.chunk_seconds(plan.chunks[-1]) == pytest.approx(15.5)
    info = source(15.9)
    assert plan_chunks(info, ladder_for(info), OPTIONS, 8.0) is None
    assert plan_chunks(source(100.0), ladder_for(source(100.0)), OPTIONS, 0) is None


def test_ntsc_boundaries_are_the_first_frame_at_or_after_each_multiple() -> None:
    """At 29.97 fps, 8 s is frame 239.76: the chunk starts at frame 240 (8.008 s), which is
    where the whole encode forces its keyframe (`gte(t, 4*2)`) and cuts its segment."""
    rate = Fraction(30000, 1001)
    plan = plan_for(60.0, rate=rate)
    assert [c.start_frame for c in plan.chunks] == [0, 240, 480, 720, 960, 1199, 1439]
    for chunk in plan.chunks:
        start = chunk.start(rate)
        assert start >= chunk.index * 8 > start - 1 / rate
        assert chunk.start_frame == first_frame_at(Fraction(chunk.index * 8), rate)


def test_hls_time_puts_every_cut_on_the_whole_encodes_keyframe() -> None:
    """Simulate ffmpeg's rule (cut at the first keyframe at or after start + n·hls_time) on
    the forced keyframes, and compare with the whole encode's cuts."""
    for rate in (Fraction(30), Fraction(30000, 1001), Fraction(24000, 1001), Fraction(25),
                 Fraction(60000, 1001)):  # fmt: skip
        plan = plan_for(181.0, chunk=60.0, rate=rate)
        total = math.floor(181.0 * rate)
        keyframes = sorted({first_frame_at(Fraction(2 * n), rate) for n in range(100)})
        whole = [first_frame_at(Fraction(4 * n), rate) for n in range(1, 46)]
        for chunk in plan.chunks:
            end = chunk.end_frame or total
            start = chunk.start(rate)
            hls_time = Fraction(plan.hls_time_for(chunk))
            cuts = []
            threshold = start + hls_time
            for frame in keyframes:
                if chunk.start_frame < frame < end and frame / rate >= threshold:
                    cuts.append(frame)
                    threshold = start + (len(cuts) + 1) * hls_time
            assert cuts == [f for f in whole if chunk.start_frame < f < end], (rate, chunk)


def test_chunk_keyframe_expression_continues_the_whole_encodes() -> None:
    plan = plan_for(24.0)
    assert plan.keyframe_expression(plan.chunks[0]) == "expr:gte(t,(n_forced+0)*2)"
    assert plan.keyframe_expression(plan.chunks[2]) == "expr:gte(t,(n_forced+8)*2)"
    assert keyframe_expression(2.0) == "expr:gte(t,n_forced*2)"


def test_audio_renditions_are_the_distinct_formats_of_the_ladder() -> None:
    plan = plan_for(120.0, height=1080)
    assert [rung.name for rung in plan.rungs] == ["1080p", "720p", "480p", "360p", "240p"]
    assert plan.audio_renditions == (
        AudioRendition(128_000, 2, 48000), AudioRendition(96_000, 2, 48000),
        AudioRendition(64_000, 2, 48000),
    )  # fmt: skip
    assert [a.name for a in plan.audio_renditions] == ["audio-128k", "audio-96k", "audio-64k"]
    silent = plan_for(30.0, audio=None)
    assert silent.audio_renditions == () and AUDIO_PART not in silent.parts


def test_progress_weighs_parts_by_their_seconds_and_audio_a_little() -> None:
    plan = plan_for(20.0)  # chunks of 8 s and 12 s
    assert plan.progress({}) == 0
    assert plan.progress({part: 100.0 for part in plan.parts}) == pytest.approx(100.0)
    only_long = plan.progress({"v1": 100.0})
    only_short = plan.progress({"v0": 100.0})
    assert only_long / only_short == pytest.approx(12 / 8)
    assert plan.progress({AUDIO_PART: 100.0}) < 5
    assert plan.progress({"v0": 250.0, "v1": -5}) == pytest.approx(only_short)


def test_the_poster_comes_from_the_chunk_holding_its_frame() -> None:
    plan = plan_for(24.0)
    assert plan.poster_offset == pytest.approx(2.4)
    assert plan.poster_chunk == 0
    late = dataclasses.replace(plan, poster_offset=9.0)
    assert late.poster_chunk == 1


def test_plans_travel_as_json_and_their_version_follows_job_and_cut() -> None:
    plan = dataclasses.replace(plan_for(30.0, rate=Fraction(30000, 1001)), version="v1")
    assert ChunkPlan.from_dict(plan.to_dict()) == plan
    again = version_for("job-1", plan)
    assert again == version_for("job-1", dataclasses.replace(plan, version="other"))
    assert version_for("job-2", plan) != again
    assert version_for("job-1", dataclasses.replace(plan, chunk_duration=12.0)) != again
    assert again.startswith("v") and len(again) == 9


def test_chunk_duration_must_be_whole_segments_of_whole_gops() -> None:
    Settings(chunk_duration=60.0).validate()
    with pytest.raises(SettingsError, match="multiple of segment_duration"):
        Settings(chunk_duration=10.0).validate()
    with pytest.raises(SettingsError, match="multiple of keyframe_interval"):
        Settings(chunk_duration=60.0, segment_duration=5.0, keyframe_interval=2.0).validate()
    with pytest.raises(SettingsError, match="0 \\(off\\) or positive"):
        Settings(chunk_duration=-4.0).validate()
    Settings(segment_duration=5.0, keyframe_interval=2.0).validate()  # fine unchunked
