"""The bitrate ladder: which rungs, what sizes, what bit rates (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from transcoder.ladder import (
    Rung,
    even,
    frame_rate_factor,
    ladder_for,
    output_frame_rate,
    video_bitrate,
)
from transcoder.probe import AudioInfo, ProbeResult, VideoInfo

STEREO = AudioInfo(index=1, codec="aac", channels=2, sample_rate=48000)


def source(
    width: int,
    height: int,
    *,
    fps: Fraction | int = 30,
    rotation: int = 0,
    sar: Fraction | int = 1,
    variable: bool = False,
    audio: AudioInfo | None = STEREO,
) -> ProbeResult:
    video = VideoInfo(
        index=0,
        codec="h264",
        pix_fmt="yuv420p",
        width=width,
        height=height,
        sample_aspect_ratio=Fraction(sar),
        rotation=rotation,
        frame_rate=Fraction(fps),
        variable_frame_rate=variable,
    )
    return ProbeResult(format_name="mp4", duration=10.0, video=video, audio=audio)


def sizes(rungs: list[Rung]) -> list[tuple[str, int, int]]:
    return [(rung.name, rung.width, rung.height) for rung in rungs]


def test_4k_source_is_capped_at_the_default_top_rung() -> None:
    assert sizes(ladder_for(source(3840, 2160))) == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
        ("240p", 426, 240),
    ]


def test_4k_source_with_top_rung_2160_gets_every_rung() -> None:
    rungs = ladder_for(source(3840, 2160), top_rung=2160)
    assert [rung.name for rung in rungs] == [
        "2160p",
        "1440p",
        "1080p",
        "720p",
        "480p",
        "360p",
        "240p",
    ]
    assert (rungs[0].width, rungs[0].height) == (3840, 2160)
    assert (rungs[1].width, rungs[1].height) == (2560, 1440)


def test_top_rung_720_stops_there() -> None:
    assert [r.name for r in ladder_for(source(1920, 1080), top_rung=720)] == [
        "720p",
        "480p",
        "360p",
        "240p",
    ]


def test_top_rung_between_standard_sizes_gets_its_own_rung() -> None:
    rungs = ladder_for(source(1920, 1080), top_rung=900)
    assert sizes(rungs)[0] == ("900p", 1600, 900)
    assert [r.name for r in rungs[1:]] == ["720p", "480p", "360p", "240p"]


def test_1080p_source() -> None:
    assert [r.name for r in ladder_for(source(1920, 1080))] == [
        "1080p",
        "720p",
        "480p",
        "360p",
        "240p",
    ]


def test_720p_source_is_never_upscaled() -> None:
    rungs = ladder_for(source(1280, 720), top_rung=2160)
    assert sizes(rungs) == [
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
        ("240p", 426, 240),
    ]


def test_portrait_480x852_is_judged_on_its_short_side() -> None:
    assert sizes(ladder_for(source(480, 852))) == [
        ("480p", 480, 852),
        ("360p", 360, 640),
        ("240p", 240, 426),
    ]


def test_320x240_gets_one_rung() -> None:
    assert sizes(ladder_for(source(320, 240))) == [("240p", 320, 240)]


def test_source_below_240_gets_one_rung_at_its_own_even_size() -> None:
    assert sizes(ladder_for(source(200, 150))) == [("150p", 200, 150)]
    assert sizes(ladder_for(source(177, 101))) == [("100p", 176, 100)]


def test_odd_1279x719_keeps_its_detail_in_an_extra_top_rung() -> None:
    rungs = ladder_for(source(1279, 719))
    assert sizes(rungs) == [
        ("718p", 1278, 718),
        ("480p", 854, 480),
        ("360p", 640, 360),
        ("240p", 426, 240),
    ]
    assert all(r.width <= 1279 and r.height <= 719 for r in rungs)


def test_odd_853x481_rounds_to_480p_without_upscaling() -> None:
    rungs = ladder_for(source(853, 481))
    assert sizes(rungs) == [("480p", 852, 480), ("360p", 638, 360), ("240p", 426, 240)]


def test_qhd_960x540_gets_a_540p_rung() -> None:
    assert [r.name for r in ladder_for(source(960, 540))] == ["540p", "480p", "360p", "240p"]


def test_rotated_phone_video_becomes_a_portrait_ladder() -> None:
    rungs = ladder_for(source(1920, 1080, rotation=90))
    assert sizes(rungs) == [
        ("1080p", 1080, 1920),
        ("720p", 720, 1280),
        ("480p", 480, 854),
        ("360p", 360, 640),
        ("240p", 240, 426),
    ]
    assert sizes(ladder_for(source(1920, 1080, rotation=270))) == sizes(rungs)
    assert sizes(ladder_for(source(1920, 1080, rotation=180)))[0] == ("1080p", 1920, 1080)


def test_anamorphic_source_keeps_its_display_aspect_ratio() -> None:
    rungs = ladder_for(source(720, 576, sar=Fraction(64, 45)))
    assert sizes(rungs)[0] == ("576p", 1024, 576)
    for rung in rungs:
        assert rung.width / rung.height == pytest.approx(16 / 9, rel=0.01)


@pytest.mark.parametrize(
    ("width", "height"), [(3840, 2160), (1279, 719), (853, 481), (333, 251), (1080, 1920)]
)
def test_every_dimension_is_even_and_the_aspect_ratio_kept(width: int, height: int) -> None:
    for rung in ladder_for(source(width, height), top_rung=2160):
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        assert rung.width / rung.height == pytest.approx(width / height, rel=0.01)
        assert rung.width <= width and rung.height <= height


def test_bitrates_at_30fps() -> None:
    rates = {r.name: r.video_bitrate for r in ladder_for(source(3840, 2160), top_rung=2160)}
    assert rates == {
        "2160p": 14_000_000,
        "1440p": 8_000_000,
        "1080p": 5_000_000,
        "720p": 2_800_000,
        "480p": 1_400_000,
        "360p": 800_000,
        "240p": 400_000,
    }


def test_maxrate_and_bufsize_follow_the_target() -> None:
    rung = ladder_for(source(1920, 1080))[0]
    assert (rung.maxrate, rung.bufsize) == (7_500_000, 10_000_000)


@pytest.mark.parametrize(
    ("fps", "factor"),
    [(24, 1.0), (25, 1.0), (30, 1.0), (50, 1.0 + 0.5 * 20 / 30), (60, 1.5), (120, 1.5)],
)
def test_frame_rate_factor(fps: float, factor: float) -> None:
    assert frame_rate_factor(fps) == pytest.approx(factor)


def test_60fps_and_50fps_bitrates() -> None:
    at60 = ladder_for(source(1920, 1080, fps=60))[0]
    assert at60.frame_rate == 60
    assert at60.video_bitrate == 7_500_000
    at50 = ladder_for(source(1920, 1080, fps=50))[0]
    assert at50.video_bitrate == 6_667_000
    ntsc60 = ladder_for(source(1280, 720, fps=Fraction(60000, 1001)))[0]
    assert ntsc60.frame_rate == Fraction(60000, 1001)
    assert 4_150_000 < ntsc60.video_bitrate < 4_200_000


@pytest.mark.parametrize(
    ("rate", "variable", "expected"),
    [
        (Fraction(30000, 1001), False, Fraction(30000, 1001)),
        (Fraction(25), False, Fraction(25)),
        (Fraction(60), False, Fraction(60)),
        (Fraction(120), False, Fraction(60)),
        (Fraction(100), False, Fraction(50)),
        (Fraction(90), False, Fraction(45)),
        (Fraction(240), False, Fraction(60)),
        (Fraction(2997, 100), True, Fraction(30000, 1001)),
        (Fraction(45), True, Fraction(45)),
        (Fraction(119), True, Fraction(119, 2)),
    ],
)
def test_output_frame_rate(rate: Fraction, variable: bool, expected: Fraction) -> None:
    assert output_frame_rate(rate, variable) == expected


def test_frame_rate_is_the_same_on_every_rung() -> None:
    rungs = ladder_for(source(1920, 1080, fps=120))
    assert {r.frame_rate for r in rungs} == {Fraction(60)}


def test_audio_bitrates_by_rung_and_channels() -> None:
    rungs = ladder_for(source(1920, 1080))
    assert {r.name: r.audio_bitrate for r in rungs} == {
        "1080p": 128_000,
        "720p": 128_000,
        "480p": 128_000,
        "360p": 96_000,
        "240p": 64_000,
    }
    assert {(r.audio_channels, r.audio_sample_rate) for r in rungs} == {(2, 48000)}
    mono = AudioInfo(index=1, codec="mp3", channels=1, sample_rate=22050)
    rung = ladder_for(source(1280, 720, audio=mono))[0]
    assert (rung.audio_bitrate, rung.audio_channels, rung.audio_sample_rate) == (64_000, 1, 48000)
    surround = AudioInfo(index=1, codec="ac3", channels=6, sample_rate=44100)
    rung = ladder_for(source(1280, 720, audio=surround))[0]
    assert (rung.audio_channels, rung.audio_sample_rate) == (2, 44100)


def test_silent_source_has_no_audio_on_any_rung() -> None:
    assert not any(r.has_audio for r in ladder_for(source(1280, 720, audio=None)))


def test_bitrate_scales_with_the_frame_area() -> None:
    square = video_bitrate(720, 720, Fraction(30))
    assert square == round(2_800_000 * 720 * 720 / (720 * 1280) / 1000) * 1000
    assert video_bitrate(64, 64, Fraction(30)) == 100_000


def test_even() -> None:
    assert [even(x) for x in (0, 1, 2.9, 3, 853.3, 854.9)] == [2, 2, 2, 4, 854, 854]
