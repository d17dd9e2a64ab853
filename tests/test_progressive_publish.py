"""The streaming publisher on a real local store and SQLite catalogue, fed by hand-written
ffmpeg output (as ffmpeg lays it out: segments renamed into place, then its playlist), so
every stage of a growing publication can be looked at (no ffmpeg needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import m3u8
import pytest

from transcoder.errors import LeaseLost, VideoGone
from transcoder.ffmpeg_args import OutputLayout
from transcoder.ladder import Rung
from transcoder.master import SegmentStat, VariantStats, build_master
from transcoder.measure import IncompleteOutput
from transcoder.streaming import StreamingPublisher
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video
from vodstack.media import FINISHED_PLAYLIST, GROWING_PLAYLIST
from vodstack.settings import Settings

VERSION = "v0000aaaa"
NAMES = ("360p", "240p")
INIT = b"\x00\x00\x00\x10ftypiso5" + b"\x00\x00\x00\x0favcC\x01\x64\x00\x1e\xff"
"""Enough of an fMP4 init segment for its codec string (avc1.64001e)."""


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[Backends]:
    settings = Settings(data_dir=tmp_path / "data").validate()
    opened = Backends.from_settings(settings, queue=False)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


def rung(name: str) -> Rung:
    height = int(name[:-1])
    return Rung(
        name=name, width=height * 16 // 9 // 2 * 2, height=height, frame_rate=Fraction(30),
        video_bitrate=800_000, maxrate=1_200_000, bufsize=1_600_000, audio_bitrate=96_000,
        audio_channels=2, audio_sample_rate=48000,
    )  # fmt: skip


class FakeEncoder:
    """Writes what ffmpeg writes, one segment at a time."""

    def __init__(self, layout: OutputLayout) -> None:
        self.layout = layout
        self.count = {name: 0 for name in NAMES}
        for name in NAMES:
            layout.rendition_dir(name).mkdir(parents=True)
            (layout.rendition_dir(name) / "init.mp4").write_bytes(INIT)

    def segment(self, name: str, *, end: bool = False) -> None:
        number = self.count[name]
        directory = self.layout.rendition_dir(name)
        (directory / f"{number}.m4s").write_bytes(f"{name} segment {number}".encode() * 50)
        self.count[name] = number + 1
        self.playlist(name, end=end)

    def playlist(self, name: str, *, end: bool = False) -> None:
        lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4",
                 "#EXT-X-PLAYLIST-TYPE:EVENT", '#EXT-X-MAP:URI="init.mp4"']  # fmt: skip
        for number in range(self.count[name]):
            lines += ["#EXTINF:4.000000,", f"{number}.m4s"]
        if end:
            lines.append("#EXT-X-ENDLIST")
        self.layout.playlist(name).write_text("\n".join(lines) + "\n")

    def master_text(self) -> str:
        stats = [
            VariantStats(
                name=name, width=rung(name).width, height=rung(name).height,
                frame_rate=Fraction(30), video_codec="avc1.64001e", audio_codec="mp4a.40.2",
                segments=tuple(SegmentStat(4.0, 1000) for _ in range(self.count[name])),
                target_duration=4, hls_version=7,
            )
            for name in NAMES
        ]
        return build_master(stats, VERSION)


class Events:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def before_master(self) -> None:
        self.calls.append("before_master")

    async def playable(self) -> None:
        self.calls.append("playable")

    async def withdrawn(self) -> None:
        self.calls.append("withdrawn")


async def setup(
    backends: Backends, tmp_path: Path, **kwargs: object
) -> tuple[str, FakeEncoder, StreamingPublisher, Events]:
    video_id = keys.new_video_id()
    await backends.catalog.create(Video(id=video_id))
    layout = OutputLayout(tmp_path / "out")
    events = Events()
    publisher = StreamingPublisher(
        backends.store, backends.catalog, video_id=video_id, version=VERSION, layout=layout,
        rungs=[rung(name) for name in NAMES], declared_target=4,
        before_master=events.before_master, on_playable=events.playable,
        on_withdrawn=events.withdrawn, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    return video_id, FakeEncoder(layout), publisher, events


async def stored(backends: Backends, video_id: str) -> dict[str, str | None]:
    """key → stored Cache-Control of every object of the video."""
    return {
        info.key: info.cache_control
        async for info in backends.store.list(keys.video_prefix(video_id))
    }


async def playlist_of(backends: Backends, video_id: str, name: str) -> m3u8.M3U8:
    key = keys.rendition_prefix(video_id, VERSION, name) + "index.m3u8"
    return m3u8.loads((await backends.store.read(key)).decode())


async def assert_every_reference_stored(backends: Backends, video_id: str) -> None:
    objects = await stored(backends, video_id)
    master_key = keys.master_key(video_id)
    if master_key not in objects:
        return
    master = m3u8.loads((await backends.store.read(master_key)).decode())
    for variant in master.playlists:
        key = keys.video_prefix(video_id) + variant.uri
        assert key in objects, f"the master names {key}, which is not stored"
        media = m3u8.loads((await backends.store.read(key)).decode())
        base = key.rsplit("/", 1)[0] + "/"
        names = [s.uri for s in media.segments] + [m.uri for m in media.segment_map]
        for name in names:
            assert base + name in objects, f"{key} names {name}, which is not stored"


async def test_a_growing_publication_from_first_segment_to_finished(
    backends: Backends, tmp_path: Path
) -> None:
    video_id, encoder, publisher, events = await setup(backends, tmp_path)
    await publisher.prepare(allow_progressive=True)
    assert publisher.progressive

    encoder.segment("360p")
    await publisher.step()
    # One rendition has a segment: its playlist is out, not the master.
    objects = await stored(backends, video_id)
    assert keys.master_key(video_id) not in objects
    assert (await playlist_of(backends, video_id, "360p")).playlist_type == "event"
    assert events.calls == []
    await assert_every_reference_stored(backends, video_id)

    encoder.segment("240p")
    await publisher.step()
    objects = await stored(backends, video_id)
    assert objects[keys.master_key(video_id)] == GROWING_PLAYLIST
    assert events.calls == ["before_master", "playable"]
    master = m3u8.loads((await backends.store.read(keys.master_key(video_id))).decode())
    assert [p.uri for p in master.playlists] == [f"{VERSION}/{n}/index.m3u8" for n in NAMES]
    assert master.playlists[0].stream_info.codecs == "avc1.64001e,mp4a.40.2"
    await assert_every_reference_stored(backends, video_id)

    for name in NAMES:
        encoder.segment(name)
    await publisher.step()
    for name in NAMES:
        growing = await playlist_of(backends, video_id, name)
        assert growing.playlist_type == "event" and not growing.is_endlist
        assert [s.uri for s in growing.segments] == ["0.m4s", "1.m4s"]
        key = keys.rendition_prefix(video_id, VERSION, name) + "index.m3u8"
        assert objects[key] == GROWING_PLAYLIST
    await assert_every_reference_stored(backends, video_id)

    for name in NAMES:
        encoder.segment(name, end=True)
    await publisher.finish(encoder.master_text(), poster=None)
    objects = await stored(backends, video_id)
    assert objects[keys.master_key(video_id)] == FINISHED_PLAYLIST
    for name in NAMES:
        final = await playlist_of(backends, video_id, name)
        assert final.playlist_type == "vod" and final.is_endlist and len(final.segments) == 3
        key = keys.rendition_prefix(video_id, VERSION, name) + "index.m3u8"
        assert objects[key] == FINISHED_PLAYLIST
    assert events.calls == ["before_master", "playable", "before_master"]
    await assert_every_reference_stored(backends, video_id)
    await publisher.abandon()  # after the finished master: a no-op
    assert await stored(backends, video_id) == objects


async def test_finish_refuses_when_a_listed_segment_never_reached_the_store(
    backends: Backends, tmp_path: Path
) -> None:
    video_id, encoder, publisher, _ = await setup(backends, tmp_path)
    await publisher.prepare(allow_progressive=True)
    for name in NAMES:
        encoder.segment(name, end=True)
    (encoder.layout.rendition_dir("240p") / "0.m4s").unlink()
    with pytest.raises(IncompleteOutput):
        await publisher.finish(encoder.master_text(), poster=None)
    assert keys.master_key(video_id) not in await stored(backends, video_id)


async def test_abandoning_takes_the_growing_master_down_first_then_the_version(
    backends: Backends, tmp_path: Path
) -> None:
    video_id, encoder, publisher, events = await setup(backends, tmp_path)
    await publisher.prepare(allow_progressive=True)
    for name in NAMES:
        encoder.segment(name)
    await publisher.step()
    assert keys.master_key(video_id) in await stored(backends, video_id)
    await publisher.abandon()
    assert await stored(backends, video_id) == {}
    assert events.calls[-1] == "withdrawn"


async def test_a_master_another_attempt_wrote_meanwhile_is_left_alone(
    backends: Backends, tmp_path: Path
) -> None:
    video_id, encoder, publisher, events = await setup(backends, tmp_path)
    await publisher.prepare(allow_progressive=True)
    for name in NAMES:
        encoder.segment(name)
    await publisher.step()
    newer = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0000bbbb/240p/index.m3u8\n"
    await backends.store.put_bytes(
        keys.master_key(video_id), newer.encode(), content_type="application/vnd.apple.mpegurl"
    )
    await publisher.abandon()
    assert (await backends.store.read(keys.master_key(video_id))).decode() == newer
    assert "withdrawn" not in events.calls
    assert [key for key in await stored(backends, video_id) if VERSION in key] == []


async def test_a_video_deleted_just_before_its_master_leaves_nothing(
    backends: Backends, tmp_path: Path
) -> None:
    video_id, encoder, publisher, events = await setup(backends, tmp_path)

    async def delete_then_continue() -> None:
        await backends.catalog.delete(video_id)

    publisher._before_master = delete_then_continue  # the check after the hook notices
    await publisher.prepare(allow_progressive=True)
    for name in NAMES:
        encoder.segment(name)
    with pytest.raises(VideoGone):
        await publisher.step()
    await publisher.abandon()
    assert await stored(backends, video_id) == {}
    assert "playable" not in events.calls


async def test_a_lost_lease_stops_before_the_master(backends: Backends, tmp_path: Path) -> None:
    video_id, encoder, publisher, _ = await setup(backends, tmp_path)

    async def lease_lost() -> None:
        raise LeaseLost("job")

    publisher._before_master = lease_lost
    await publisher.prepare(allow_progressive=True)
    for name in NAMES:
        encoder.segment(name)
    with pytest.raises(LeaseLost):
        await publisher.step()
    assert keys.master_key(video_id) not in await stored(backends, video_id)
    await publisher.abandon()
    assert await stored(backends, video_id) == {}


async def test_a_published_video_keeps_its_master_until_the_new_version_is_complete(
    backends: Backends, tmp_path: Path
) -> None:
    video_id, encoder, publisher, events = await setup(backends, tmp_path)
    old = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0000old0/240p/index.m3u8\n"
    await backends.store.put_bytes(
        keys.master_key(video_id), old.encode(), content_type="application/vnd.apple.mpegurl",
        cache_control=FINISHED_PLAYLIST,
    )  # fmt: skip
    await backends.store.put_bytes(
        f"videos/{video_id}/v0000old0/240p/0.m4s", b"old", content_type="video/iso.segment"
    )
    await publisher.prepare(allow_progressive=True)
    assert not publisher.progressive
    for name in NAMES:
        encoder.segment(name)
    await publisher.step()
    objects = await stored(backends, video_id)
    assert (await backends.store.read(keys.master_key(video_id))).decode() == old
    assert not [key for key in objects if key.endswith("index.m3u8")], "nothing to point at"
    assert any(key.endswith(f"{VERSION}/240p/0.m4s") for key in objects)  # media goes early

    for name in NAMES:
        encoder.segment(name, end=True)
    await publisher.finish(encoder.master_text(), poster=None)
    objects = await stored(backends, video_id)
    assert f"\n{VERSION}/" in (await backends.store.read(keys.master_key(video_id))).decode()
    assert not [key for key in objects if "v0000old0" in key]
    assert "playable" not in events.calls


async def test_a_growing_master_left_by_a_dead_attempt_is_withdrawn_first(
    backends: Backends, tmp_path: Path
) -> None:
    video_id, _encoder, publisher, events = await setup(backends, tmp_path)
    stale = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0000dead/240p/index.m3u8\n"
    await backends.store.put_bytes(
        keys.master_key(video_id), stale.encode(),
        content_type="application/vnd.apple.mpegurl", cache_control=GROWING_PLAYLIST,
    )  # fmt: skip
    await backends.store.put_bytes(
        f"videos/{video_id}/v0000dead/240p/index.m3u8", b"#EXTM3U\n",
        content_type="application/vnd.apple.mpegurl", cache_control=GROWING_PLAYLIST,
    )  # fmt: skip
    await publisher.prepare(allow_progressive=True)
    assert publisher.progressive
    assert await stored(backends, video_id) == {}
    assert events.calls == ["withdrawn"]
