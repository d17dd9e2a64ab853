"""What a load test is given: playlists, bandwidth specs, options and target URLs."""

from __future__ import annotations

import random

import pytest

from vodstack.loadtest.bandwidth import BandwidthSpec, parse_rate
from vodstack.loadtest.config import MAX_PLAYERS, ConfigError, LoadTestConfig
from vodstack.loadtest.fetch import cache_state
from vodstack.loadtest.player import segment_index_at
from vodstack.loadtest.playlists import (
    ByteRange,
    PlaylistError,
    parse_master,
    parse_media,
)
from vodstack.loadtest.targets import TargetError, api_base, is_playlist_url, playback_urls

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
v1/720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360
v1/360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1400000,RESOLUTION=854x480
https://cdn.example/v/x/v1/480p/index.m3u8
"""

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000,
0.m4s
#EXTINF:4.000,
1.m4s
#EXTINF:1.500,
2.m4s
#EXT-X-ENDLIST
"""


def test_master_variants_come_lowest_first_with_absolute_urls() -> None:
    variants = parse_master(MASTER, "http://edge:8081/v/x/master.m3u8")
    assert [v.bandwidth for v in variants] == [800_000, 1_400_000, 2_800_000]
    assert variants[0].uri == "http://edge:8081/v/x/v1/360p/index.m3u8"
    assert variants[1].uri == "https://cdn.example/v/x/v1/480p/index.m3u8"
    assert variants[2].resolution == (1280, 720)


def test_a_media_playlist_given_as_master_is_its_only_variant() -> None:
    url = "http://h/v/x/v1/360p/index.m3u8"
    assert [(v.uri, v.bandwidth) for v in parse_master(MEDIA, url)] == [(url, 0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<html>not found</html>", "no #EXTM3U"),
        ("#EXTM3U\n", "neither variants nor segments"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=0\na.m3u8\n", "no BANDWIDTH"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n", "not a valid playlist"),
    ],
)
def test_unusable_masters_say_why(text: str, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        parse_master(text, "http://h/v/x/master.m3u8")


def test_media_segments_init_and_duration() -> None:
    media = parse_media(MEDIA, "http://h/v/x/v1/360p/index.m3u8")
    assert [s.uri.rsplit("/", 1)[1] for s in media.segments] == ["0.m4s", "1.m4s", "2.m4s"]
    assert media.duration == pytest.approx(9.5)
    assert media.init is not None and media.init.uri == "http://h/v/x/v1/360p/init.mp4"
    assert media.endlist


def test_byte_ranges_follow_on_when_the_offset_is_left_out() -> None:
    """RFC 8216 §4.3.2.2: without @offset a sub-range starts where the previous ended."""
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"all.mp4\",BYTERANGE=\"700@0\"\n"
        "#EXTINF:4,\n#EXT-X-BYTERANGE:1000@700\nall.mp4\n"
        "#EXTINF:4,\n#EXT-X-BYTERANGE:500\nall.mp4\n#EXT-X-ENDLIST\n"
    )
    media = parse_media(text, "http://h/v/x/a/index.m3u8")
    assert media.init is not None and media.init.byterange == ByteRange(0, 700)
    assert [s.byterange for s in media.segments] == [ByteRange(700, 1000), ByteRange(1700, 500)]
    assert ByteRange(700, 1000).header == "bytes=700-1699"


def test_media_playlist_errors() -> None:
    with pytest.raises(PlaylistError, match="master playlist where a media"):
        parse_media(MASTER, "http://h/v/x/master.m3u8")
    with pytest.raises(PlaylistError, match="no segments"):
        parse_media("#EXTM3U\n#EXT-X-ENDLIST\n", "http://h/a.m3u8")


def test_after_a_switch_playback_continues_at_the_same_media_time() -> None:
    media = parse_media(MEDIA, "http://h/v/x/v1/360p/index.m3u8")
    assert segment_index_at(media, 0.0) == 0
    assert segment_index_at(media, 4.0) == 1
    assert segment_index_at(media, 5.0) == 1
    assert segment_index_at(media, 8.0) == 2
    assert segment_index_at(media, 9.5) == 3  # everything is buffered already


@pytest.mark.parametrize(
    ("text", "bits"), [("8M", 8e6), ("500k", 5e5), ("1.5G", 1.5e9), ("2000000", 2e6)]
)
def test_rates(text: str, bits: float) -> None:
    assert parse_rate(text) == bits


@pytest.mark.parametrize("text", ["fast", "-1M", "0M", "8Q", "20M-2M"])
def test_bad_bandwidth_specs(text: str) -> None:
    with pytest.raises(ValueError):
        BandwidthSpec.parse(text)


def test_bandwidth_draws_stay_in_range_and_spread_log_uniformly() -> None:
    spec = BandwidthSpec.parse("1M-100M")
    rng = random.Random(3)
    draws = [spec.draw(rng) for _ in range(4000)]
    assert all(d is not None and 1e6 <= d <= 100e6 for d in draws)
    below_10m = sum(1 for d in draws if d is not None and d < 10e6)
    assert 0.45 < below_10m / len(draws) < 0.55  # 1-10M is half of 1-100M in log terms
    assert BandwidthSpec.parse("8M").draw(rng) == 8e6
    assert BandwidthSpec.parse("unlimited").draw(rng) is None


def test_config_limits() -> None:
    good = LoadTestConfig(targets=("http://h/v/x/master.m3u8",))
    assert good.validate() is good
    cases = [
        ({"players": 0}, "--players must be at least 1"),
        ({"players": MAX_PLAYERS + 1}, "--force"),
        ({"duration": 0}, "--duration"),
        ({"duration": 7200}, "--duration"),
        ({"speed": 0}, "--speed"),
        ({"targets": ("ftp://h/x.m3u8",)}, "not an http"),
        ({"targets": ()}, "at least one URL"),
        ({"ramp": 40}, "--ramp"),
    ]
    for overrides, message in cases:
        values = {"targets": ("http://h/v/x/master.m3u8",), **overrides}
        with pytest.raises(ConfigError, match=message):
            LoadTestConfig(**values).validate()  # type: ignore[arg-type]
    forced = LoadTestConfig(
        targets=("http://h/m.m3u8",), players=MAX_PLAYERS + 1, duration=7200, force=True
    )
    assert forced.validate() is forced


def test_targets_playlists_and_api_bases() -> None:
    assert is_playlist_url("http://h/v/x/master.m3u8?token=1")
    assert not is_playlist_url("http://h:8080")
    assert api_base("http://h:8080/") == "http://h:8080"
    assert api_base("http://h:8080/v1/videos/") == "http://h:8080"
    assert api_base("http://h/prefix/v1/videos") == "http://h/prefix"


def test_listing_links_are_played_through_the_url_under_test() -> None:
    listing = {
        "videos": [
            {"status": "ready", "playback_url": "http://public.example/v/a/master.m3u8"},
            {"status": "processing", "playback_url": "http://public.example/v/b/master.m3u8"},
            {"status": "ready"},
        ],
        "next_cursor": None,
    }
    assert playback_urls(listing, "http://edge:8081") == ["http://edge:8081/v/a/master.m3u8"]
    with pytest.raises(TargetError, match="did not answer with a video listing"):
        playback_urls({"error": {}}, "http://edge:8081")


def test_x_cache_first_word_upper_case() -> None:
    assert cache_state("HIT") == "HIT"
    assert cache_state("hit from edge-1") == "HIT"
    assert cache_state("MISS, HIT") == "MISS"
    assert cache_state(None) is None and cache_state(" ") is None
