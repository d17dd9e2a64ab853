"""The master playlist from measured renditions (RFC 8216 §4.3.4.2), parsed back with m3u8."""

from __future__ import annotations

from fractions import Fraction

import m3u8
import pytest

from transcoder.master import (
    SegmentStat,
    VariantStats,
    average_bandwidth,
    build_master,
    peak_bandwidth,
    rendition_record,
)


def variant(
    name: str, width: int, height: int, sizes: list[int], durations: list[float] | None = None
) -> VariantStats:
    durations = durations or [4.0] * len(sizes)
    return VariantStats(
        name=name,
        width=width,
        height=height,
        frame_rate=Fraction(30000, 1001),
        video_codec="avc1.64001f",
        audio_codec="mp4a.40.2",
        segments=tuple(SegmentStat(d, s) for d, s in zip(durations, sizes, strict=True)),
        target_duration=4,
        hls_version=7,
    )


def test_average_is_all_bits_over_all_time() -> None:
    segments = [SegmentStat(4.0, 1_000_000), SegmentStat(4.0, 3_000_000), SegmentStat(2.0, 0)]
    assert average_bandwidth(segments) == round(4_000_000 * 8 / 10)
    assert average_bandwidth([]) == 0


def test_peak_is_the_largest_segment_rate() -> None:
    segments = [
        SegmentStat(4.0, 1_000_000),
        SegmentStat(4.0, 3_000_000),
        SegmentStat(4.0, 2_000_000),
    ]
    assert peak_bandwidth(segments, 4) == 3_000_000 * 8 // 4


def test_a_tiny_last_segment_does_not_inflate_the_peak() -> None:
    # 0.1 s holding a keyframe of 100 kB would alone be 8 Mb/s; it only counts together
    # with its neighbour, since a run must last at least half a target duration.
    segments = [SegmentStat(4.0, 500_000), SegmentStat(0.1, 100_000)]
    assert peak_bandwidth(segments, 4) == round(600_000 * 8 / 4.1)


def test_clip_shorter_than_half_a_target_duration_uses_its_average() -> None:
    segments = [SegmentStat(1.0, 50_000)]
    assert peak_bandwidth(segments, 4) == 400_000


def test_master_lists_every_variant_with_its_attributes() -> None:
    variants = [
        variant("360p", 640, 360, [200_000, 300_000, 100_000]),
        variant("720p", 1280, 720, [1_000_000, 1_500_000, 500_000]),
    ]
    text = build_master(variants, "v1a2b3c4d")
    lines = text.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert text.endswith("\n")

    parsed = m3u8.loads(text)
    assert parsed.is_variant
    assert [p.uri for p in parsed.playlists] == [
        "v1a2b3c4d/720p/index.m3u8",
        "v1a2b3c4d/360p/index.m3u8",
    ]
    top = parsed.playlists[0].stream_info
    assert top.bandwidth == 1_500_000 * 8 // 4
    assert top.average_bandwidth == round(3_000_000 * 8 / 12)
    assert top.resolution == (1280, 720)
    assert top.codecs == "avc1.64001f,mp4a.40.2"
    assert top.frame_rate == pytest.approx(29.97)
    assert "FRAME-RATE=29.970" in text


def test_video_only_variant_lists_only_the_video_codec() -> None:
    silent = VariantStats(
        name="240p",
        width=426,
        height=240,
        frame_rate=Fraction(25),
        video_codec="avc1.42c015",
        audio_codec=None,
        segments=(SegmentStat(4.0, 10_000),),
        target_duration=4,
    )
    text = build_master([silent], "vffff0000")
    assert 'CODECS="avc1.42c015"' in text
    assert "FRAME-RATE=25.000" in text
    assert "#EXT-X-VERSION:3" in text


def test_empty_master_is_refused() -> None:
    with pytest.raises(ValueError):
        build_master([], "v1")


def test_rendition_record_for_the_catalogue() -> None:
    record = rendition_record(variant("720p", 1280, 720, [1_000_000, 500_000]))
    assert record.name == "720p"
    assert (record.width, record.height) == (1280, 720)
    assert record.bandwidth == 2_000_000
    assert record.average_bandwidth == 1_500_000
    assert record.codecs == "avc1.64001f,mp4a.40.2"
    assert record.frame_rate == 29.97
