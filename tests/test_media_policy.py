"""Content types and Cache-Control by object type (ARCHITECTURE.md, HTTP contract)."""

import pytest

from vodstack.media import (
    FINISHED_PLAYLIST,
    GROWING_PLAYLIST,
    IMMUTABLE,
    cache_control_for,
    content_type_for,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("videos/a/master.m3u8", "application/vnd.apple.mpegurl"),
        ("videos/a/v1/720p/index.m3u8", "application/vnd.apple.mpegurl"),
        ("videos/a/v1/720p/3.ts", "video/mp2t"),
        ("videos/a/v1/720p/init.mp4", "video/mp4"),
        ("videos/a/v1/720p/3.m4s", "video/iso.segment"),
        ("videos/a/v1/poster.jpg", "image/jpeg"),
        ("videos/a/v1/unknown.bin", "application/octet-stream"),
    ],
)
def test_content_type_by_extension(key: str, expected: str) -> None:
    assert content_type_for(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        "videos/a/v1/720p/3.m4s",
        "videos/a/v1/720p/init.mp4",
        "videos/a/v1/3.ts",
        "videos/a/v1/poster.jpg",
    ],
)
def test_segments_and_images_are_immutable_for_a_year(key: str) -> None:
    assert cache_control_for(key) == IMMUTABLE
    assert "max-age=31536000" in IMMUTABLE and "immutable" in IMMUTABLE


def test_playlists_are_short_lived_with_stale_allowances() -> None:
    assert cache_control_for("videos/a/master.m3u8") == FINISHED_PLAYLIST
    assert "stale-if-error" in FINISHED_PLAYLIST and "stale-while-revalidate" in FINISHED_PLAYLIST
    assert cache_control_for("videos/a/v1/720p/index.m3u8", growing=True) == GROWING_PLAYLIST
