"""Publishing to a real local store with a real SQLite catalogue (no ffmpeg needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import m3u8
import pytest

from transcoder.errors import LeaseLost, VideoGone
from transcoder.master import SegmentStat, VariantStats, build_master
from transcoder.measure import EncodedRendition
from transcoder.publish import Publication, Publisher
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video
from vodstack.media import cache_control_for, content_type_for
from vodstack.settings import Settings


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[Backends]:
    settings = Settings(data_dir=tmp_path / "data").validate()
    opened = Backends.from_settings(settings, queue=False)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


def rendition(directory: Path, name: str, segments: int = 3) -> EncodedRendition:
    """Rendition files as ffmpeg lays them out (contents are placeholders)."""
    folder = directory / name
    folder.mkdir(parents=True)
    names = ["init.mp4"] + [f"{n}.m4s" for n in range(segments)]
    for file_name in names:
        (folder / file_name).write_bytes(f"{name}/{file_name}".encode() * 100)
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", '#EXT-X-MAP:URI="init.mp4"']
    for n in range(segments):
        lines += ["#EXTINF:4.0,", f"{n}.m4s"]
    (folder / "index.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    stats = VariantStats(
        name=name, width=640, height=360, frame_rate=Fraction(30), video_codec="avc1.64001e",
        audio_codec=None, segments=tuple(SegmentStat(4.0, 1000) for _ in range(segments)),
        target_duration=4,
    )  # fmt: skip
    return EncodedRendition(stats=stats, directory=folder, files=(*names, "index.m3u8"))


def publication(tmp: Path, video_id: str, version: str) -> Publication:
    renditions = [rendition(tmp / version, "360p"), rendition(tmp / version, "240p")]
    poster = tmp / version / "poster.jpg"
    poster.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return Publication(
        video_id=video_id, version=version, renditions=renditions, poster=poster,
        master_text=build_master([r.stats for r in renditions], version),
    )  # fmt: skip


async def stored_keys(backends: Backends, video_id: str) -> list[str]:
    return [info.key async for info in backends.store.list(keys.video_prefix(video_id))]


async def new_video(backends: Backends) -> str:
    video_id = keys.new_video_id()
    await backends.catalog.create(Video(id=video_id))
    return video_id


async def test_everything_is_uploaded_with_its_metadata_and_the_master_last(
    backends: Backends, tmp_path: Path
) -> None:
    video_id = await new_video(backends)
    await Publisher(backends.store, backends.catalog, concurrency=3).publish(
        publication(tmp_path, video_id, "v00000001")
    )
    stored = await stored_keys(backends, video_id)
    prefix = f"videos/{video_id}/v00000001/"
    expected = {keys.master_key(video_id), prefix + "poster.jpg"}
    for name in ("360p", "240p"):
        expected |= {f"{prefix}{name}/{f}" for f in ("init.mp4", "0.m4s", "1.m4s", "2.m4s")}
        expected.add(f"{prefix}{name}/index.m3u8")
    assert set(stored) == expected
    infos = [await backends.store.head(key) for key in stored]
    for info in infos:
        assert info.content_type == content_type_for(info.key)
        assert info.cache_control == cache_control_for(info.key)
    master = next(i for i in infos if i.key == keys.master_key(video_id))
    assert all(master.last_modified >= i.last_modified for i in infos)
    text = (await backends.store.read(keys.master_key(video_id))).decode()
    assert [p.uri for p in m3u8.loads(text).playlists] == [
        "v00000001/360p/index.m3u8", "v00000001/240p/index.m3u8",
    ]  # fmt: skip


async def test_republishing_replaces_the_old_version(backends: Backends, tmp_path: Path) -> None:
    video_id = await new_video(backends)
    publisher = Publisher(backends.store, backends.catalog)
    await publisher.publish(publication(tmp_path, video_id, "v00000001"))
    await publisher.publish(publication(tmp_path, video_id, "v00000002"))
    stored = await stored_keys(backends, video_id)
    assert not [key for key in stored if "/v00000001/" in key]
    assert any("/v00000002/360p/0.m4s" in key for key in stored)
    assert "v00000002/" in (await backends.store.read(keys.master_key(video_id))).decode()


async def test_video_deleted_before_the_master_leaves_nothing(
    backends: Backends, tmp_path: Path
) -> None:
    video_id = await new_video(backends)

    async def delete_the_video() -> None:
        await backends.catalog.delete(video_id)

    with pytest.raises(VideoGone):
        await Publisher(backends.store, backends.catalog).publish(
            publication(tmp_path, video_id, "v00000001"), before_master=delete_the_video
        )
    assert await stored_keys(backends, video_id) == []


async def test_lost_lease_before_the_master_keeps_the_published_version(
    backends: Backends, tmp_path: Path
) -> None:
    video_id = await new_video(backends)
    publisher = Publisher(backends.store, backends.catalog)
    await publisher.publish(publication(tmp_path, video_id, "v00000001"))
    before = await stored_keys(backends, video_id)

    async def lease_lost() -> None:
        raise LeaseLost("job")

    with pytest.raises(LeaseLost):
        await publisher.publish(
            publication(tmp_path, video_id, "v00000002"), before_master=lease_lost
        )
    assert await stored_keys(backends, video_id) == before


async def test_cleanup_is_skipped_when_a_newer_master_won(
    backends: Backends, tmp_path: Path
) -> None:
    video_id = await new_video(backends)
    publisher = Publisher(backends.store, backends.catalog)
    await publisher.publish(publication(tmp_path, video_id, "v00000001"))
    await publisher.publish(publication(tmp_path, video_id, "v00000002"))
    # A late cleanup by the v1 publisher must not delete what the current master uses.
    assert await publisher.remove_old_versions(video_id, "v00000001") == 0
    assert any("/v00000002/" in key for key in await stored_keys(backends, video_id))
