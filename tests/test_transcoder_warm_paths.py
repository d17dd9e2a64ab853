"""Which URLs the worker asks edges to warm: read back from a real local store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from transcoder.warm_paths import key_for_path, published_paths
from vodstack.media import content_type_for
from vodstack.store import ObjectStore
from vodstack.store.local import LocalStore

VIDEO = "WarmPathsVideo01"
VERSION = "v0a1b2c3d"
MASTER = f"""#EXTM3U
#EXT-X-VERSION:7
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360
{VERSION}/360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240
{VERSION}/240p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1
https://elsewhere.example/other.m3u8
"""


def media(segments: int) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", '#EXT-X-MAP:URI="init.mp4"']
    for n in range(segments):
        lines += ["#EXTINF:2.0,", f"{n}.m4s"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ObjectStore]:
    opened = LocalStore(tmp_path / "store")
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


async def put(store: ObjectStore, key: str, text: str) -> None:
    await store.put_bytes(key, text.encode(), content_type=content_type_for(key))


async def test_master_poster_playlists_init_and_first_segments(store: ObjectStore) -> None:
    await put(store, f"videos/{VIDEO}/master.m3u8", MASTER)
    await put(store, f"videos/{VIDEO}/{VERSION}/360p/index.m3u8", media(5))
    await put(store, f"videos/{VIDEO}/{VERSION}/240p/index.m3u8", media(1))
    await put(store, f"videos/{VIDEO}/{VERSION}/poster.jpg", "jpeg")
    base = f"/v/{VIDEO}"
    assert await published_paths(store, VIDEO, VERSION, 2) == [
        f"{base}/master.m3u8",
        f"{base}/{VERSION}/poster.jpg",
        f"{base}/{VERSION}/360p/index.m3u8",
        f"{base}/{VERSION}/360p/init.mp4",
        f"{base}/{VERSION}/360p/0.m4s",
        f"{base}/{VERSION}/360p/1.m4s",
        f"{base}/{VERSION}/240p/index.m3u8",
        f"{base}/{VERSION}/240p/init.mp4",
        f"{base}/{VERSION}/240p/0.m4s",
    ]


async def test_nothing_when_unpublished_and_no_poster_when_there_is_none(
    store: ObjectStore,
) -> None:
    assert await published_paths(store, VIDEO, VERSION, 2) == []
    await put(store, f"videos/{VIDEO}/master.m3u8", MASTER)
    await put(store, f"videos/{VIDEO}/{VERSION}/360p/index.m3u8", media(1))
    paths = await published_paths(store, VIDEO, VERSION, 0)
    assert paths == [
        f"/v/{VIDEO}/master.m3u8",
        f"/v/{VIDEO}/{VERSION}/360p/index.m3u8",
        f"/v/{VIDEO}/{VERSION}/360p/init.mp4",
    ]  # the 240p playlist is missing: skipped


def test_only_this_videos_plain_paths_map_to_keys() -> None:
    assert key_for_path(VIDEO, f"/v/{VIDEO}/{VERSION}/360p/0.m4s") == (
        f"videos/{VIDEO}/{VERSION}/360p/0.m4s"
    )
    assert key_for_path(VIDEO, "/v/AnotherVideo0001/master.m3u8") is None
    assert key_for_path(VIDEO, f"/v/{VIDEO}/../x") is None
    assert key_for_path(VIDEO, f"/v/{VIDEO}/master.m3u8?x=1") is None
