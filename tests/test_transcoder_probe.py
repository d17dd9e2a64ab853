"""Probing: ffprobe JSON → ProbeResult, and the reasons given for files that are not videos."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from transcoder.errors import PermanentJobError
from transcoder.probe import (
    frame_rate_of,
    parse_probe,
    parse_ratio,
    probe,
    rotation_of,
    unreadable_reason,
)

DATA = Path(__file__).parent / "data" / "ffprobe"


def captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def test_h264_720p_with_audio() -> None:
    result = parse_probe(captured("h264_720p30_aac.mp4"))
    assert result.duration == pytest.approx(10.0)
    assert result.format_name.startswith("mov,mp4")
    video = result.video
    assert (video.index, video.codec, video.pix_fmt) == (0, "h264", "yuv420p")
    assert (video.width, video.height) == (1280, 720)
    assert (video.display_width, video.display_height) == (1280, 720)
    assert video.sample_aspect_ratio == 1
    assert video.rotation == 0
    assert video.frame_rate == 30 and not video.variable_frame_rate
    assert result.audio is not None
    assert (result.audio.index, result.audio.codec) == (1, "aac")
    assert (result.audio.channels, result.audio.sample_rate) == (1, 48000)


def test_rotated_phone_video_is_portrait_for_display() -> None:
    video = parse_probe(captured("phone_1920x1080_rotate90.mp4")).video
    assert (video.width, video.height) == (1920, 1080)
    assert video.rotation in {90, 270}
    assert (video.display_width, video.display_height) == (1080, 1920)
    assert video.display_aspect_ratio == pytest.approx(1080 / 1920)


def test_anamorphic_pixels_are_widened_for_display() -> None:
    video = parse_probe(captured("anamorphic_720x576_sar64x45.mp4")).video
    assert video.sample_aspect_ratio == Fraction(64, 45)
    assert (video.display_width, video.display_height) == (1024, 576)
    assert video.frame_rate == 25


def test_transport_stream_50fps() -> None:
    result = parse_probe(captured("h264_1080p50.ts"))
    assert result.format_name == "mpegts"
    assert result.video.frame_rate == 50
    assert result.video.frame_count is None  # TS does not say
    assert result.audio is not None and result.audio.sample_rate == 44100


def test_variable_frame_rate_uses_the_average() -> None:
    video = parse_probe(captured("vfr_640x360.mp4")).video
    assert video.variable_frame_rate
    assert video.frame_rate == 45


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("still.png", ["still image", "png"]),
        ("still.jpg", ["still image", "mjpeg"]),
        ("tone.mp3", ["no video", "audio", "mp3"]),
        ("mp3_with_cover.mp3", ["no video", "audio", "mp3"]),
    ],
)
def test_files_that_are_not_videos_are_rejected_with_a_reason(name: str, words: list[str]) -> None:
    with pytest.raises(PermanentJobError) as caught:
        parse_probe(captured(name))
    for word in words:
        assert word in caught.value.reason


def edited(name: str, **stream_changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(captured(name))
    data["streams"][0].update(stream_changes)
    return data


def test_single_frame_video_is_a_still_image() -> None:
    with pytest.raises(PermanentJobError, match="still image"):
        parse_probe(edited("h264_720p30_aac.mp4", nb_frames="1"))


@pytest.mark.parametrize(("width", "height"), [(1, 1), (8, 720), (1280, 10)])
def test_tiny_dimensions_are_rejected(width: int, height: int) -> None:
    with pytest.raises(PermanentJobError, match=f"{width}x{height} pixels"):
        parse_probe(edited("h264_720p30_aac.mp4", width=width, height=height))


def test_dimensions_over_the_limit_are_rejected() -> None:
    data = edited("h264_720p30_aac.mp4", width=10000, height=5000)
    with pytest.raises(PermanentJobError, match="largest accepted is 8192"):
        parse_probe(data)
    with pytest.raises(PermanentJobError, match="largest accepted is 1000"):
        parse_probe(captured("h264_720p30_aac.mp4"), max_dimension=1000)


def test_extreme_pixel_aspect_that_makes_the_picture_too_thin_is_rejected() -> None:
    with pytest.raises(PermanentJobError, match="too thin"):
        parse_probe(edited("h264_720p30_aac.mp4", width=16, sample_aspect_ratio="1:2"))


@pytest.mark.parametrize("duration", [None, "0.000000", "N/A", "-3"])
def test_zero_or_unknown_duration_is_rejected(duration: str | None) -> None:
    data = copy.deepcopy(captured("h264_720p30_aac.mp4"))
    data["format"]["duration"] = duration
    data["streams"][0]["duration"] = duration
    with pytest.raises(PermanentJobError, match="duration is unknown or zero"):
        parse_probe(data)


def test_duration_falls_back_to_the_video_stream() -> None:
    data = copy.deepcopy(captured("h264_720p30_aac.mp4"))
    del data["format"]["duration"]
    assert parse_probe(data).duration == pytest.approx(10.0)


def test_empty_answer_is_not_a_video() -> None:
    with pytest.raises(PermanentJobError, match="not a video ffmpeg can read"):
        parse_probe({})


def test_no_streams_at_all() -> None:
    with pytest.raises(PermanentJobError, match="no video stream"):
        parse_probe({"format": {"format_name": "mpegts", "duration": "3"}, "streams": []})


def test_nonsense_sample_aspect_ratio_is_ignored() -> None:
    video = parse_probe(edited("h264_720p30_aac.mp4", sample_aspect_ratio="0:1")).video
    assert video.sample_aspect_ratio == 1
    video = parse_probe(edited("h264_720p30_aac.mp4", sample_aspect_ratio="1000:1")).video
    assert (video.display_width, video.display_height) == (1280, 720)


# -- frame rates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30000/1001", Fraction(30000, 1001)),
        ("0/0", None),
        ("N/A", None),
        ("25", None),
        ("-1/1", None),
        ("1/0", None),
        (None, None),
    ],
)
def test_parse_ratio(text: str | None, expected: Fraction | None) -> None:
    assert parse_ratio(text) == expected


@pytest.mark.parametrize(
    ("stream", "expected", "variable"),
    [
        (
            {"r_frame_rate": "30000/1001", "avg_frame_rate": "30000/1001"},
            Fraction(30000, 1001),
            False,
        ),
        ({"r_frame_rate": "60/1", "avg_frame_rate": "45/1"}, Fraction(45), True),
        ({"r_frame_rate": "0/0", "avg_frame_rate": "25/1"}, Fraction(25), False),
        ({"r_frame_rate": "24/1", "avg_frame_rate": "0/0"}, Fraction(24), False),
        ({"r_frame_rate": "0/0", "avg_frame_rate": "0/0", "nb_frames": "300"}, Fraction(30), True),
        ({"r_frame_rate": "90000/1", "avg_frame_rate": "0/0"}, Fraction(30), False),
        ({"r_frame_rate": "0/0", "avg_frame_rate": "0/0"}, Fraction(30), False),
    ],
)
def test_frame_rate_choice(stream: dict[str, str], expected: Fraction, variable: bool) -> None:
    assert frame_rate_of(stream, duration=10.0) == (expected, variable)


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, 90),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 90}]}, 270),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 180}]}, 180),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -0.0}]}, 0),
        ({"tags": {"rotate": "90"}}, 90),
        ({"tags": {"rotate": "-90"}}, 270),
        ({"tags": {"rotate": "nonsense"}}, 0),
        ({}, 0),
    ],
)
def test_rotation(stream: dict[str, Any], expected: int) -> None:
    assert rotation_of(stream) == expected


def test_unreadable_reason_hides_the_server_path() -> None:
    path = Path("/var/lib/vodstack/store/data/uploads/abc/source")
    reason = unreadable_reason([f"{path}: Invalid data found when processing input"], path)
    assert reason == (
        "the file is not a video ffmpeg can read "
        "(ffprobe: Invalid data found when processing input)"
    )
    assert "/var/lib" not in reason


def test_truncated_mp4_is_called_incomplete() -> None:
    tail = [
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5581c9f0e2c0] moov atom not found",
        "/srv/source: Invalid data found when processing input",
    ]
    assert unreadable_reason(tail, "/srv/source") == (
        "the file is not a video ffmpeg can read "
        "(ffprobe: moov atom not found; the file is incomplete, was the upload cut short?)"
    )


# -- real ffprobe ----------------------------------------------------------------------


@pytest.mark.slow
async def test_probe_a_real_clip(make_clip: Callable[..., Path]) -> None:
    result = await probe(make_clip(duration=2, width=320, height=240))
    assert (result.video.width, result.video.height) == (320, 240)
    assert result.duration == pytest.approx(2.0, abs=0.1)
    assert result.has_audio


@pytest.mark.slow
async def test_probe_a_text_file_fails_permanently(tmp_path: Path) -> None:
    text = tmp_path / "source"
    text.write_text("just some notes, certainly not a video\n" * 20)
    with pytest.raises(PermanentJobError) as caught:
        await probe(text)
    assert caught.value.reason.startswith("the file is not a video ffmpeg can read (ffprobe: ")
    assert str(tmp_path) not in caught.value.reason
