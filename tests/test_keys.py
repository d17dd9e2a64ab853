"""Object-key layout and the URL-path → key mapping that guards the store."""

import pytest

from vodstack import keys


def test_video_ids_are_url_safe_and_unguessable() -> None:
    ids = {keys.new_video_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(keys.is_video_id(video_id) for video_id in ids)
    assert all(video_id[0].isalnum() for video_id in ids)


def test_layout() -> None:
    vid = "AbCdEfGhIjKlMnOp"
    assert keys.source_key(vid) == f"uploads/{vid}/source"
    assert keys.master_key(vid) == f"videos/{vid}/master.m3u8"
    assert keys.rendition_prefix(vid, "v1", "720p") == f"videos/{vid}/v1/720p/"
    assert keys.poster_key(vid, "v1") == f"videos/{vid}/v1/poster.jpg"
    assert keys.media_path_for_key(keys.master_key(vid)) == keys.playback_path(vid)


def test_versions_differ() -> None:
    assert len({keys.new_version() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "path",
    ["master.m3u8", "v1a2b3c4/720p/index.m3u8", "v1a2b3c4/720p/0.m4s", "v1a2b3c4/poster.jpg"],
)
def test_media_paths_accepted(path: str) -> None:
    assert keys.key_for_media_path("AbCdEfGhIjKlMnOp", path) == f"videos/AbCdEfGhIjKlMnOp/{path}"


@pytest.mark.parametrize(
    "path",
    [
        "", "..", "../x", "a/../../b", ".hidden", "a//b", "a/./b", "a\\b", "a%2Fb", "x\x00",
        "a/b/c/d/e", "é.m3u8", "a" * 100,
    ],
)
def test_media_paths_rejected(path: str) -> None:
    assert keys.key_for_media_path("AbCdEfGhIjKlMnOp", path) is None


@pytest.mark.parametrize(
    "video_id", ["short", "AbCdEfGhIjKlMnOp/", "../../etc/passw", "AbCdEfGhIjKlMnO."]
)
def test_bad_video_ids_rejected(video_id: str) -> None:
    assert keys.key_for_media_path(video_id, "master.m3u8") is None
