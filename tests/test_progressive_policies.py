"""Progressive publishing as pure rules: the playlists (EVENT → VOD), the publishing order,
the estimated master and the status API's `playable` (no servers, no ffmpeg)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import m3u8
import pytest

from ingest import presenter
from transcoder.ladder import Rung
from transcoder.master import estimated_variant, master_playlist
from transcoder.media_playlist import (
    FfmpegPlaylist,
    PlaylistError,
    Segment,
    expected_target_duration,
    media_playlist,
    parse_ffmpeg_playlist,
    target_duration,
)
from transcoder.publish_order import PublishOrder, RenditionProgress
from vodstack.catalog import Video, VideoStatus
from vodstack.media import FINISHED_PLAYLIST, GROWING_PLAYLIST, cache_control_for, is_growing

BASE = "https://videos.example"
FFMPEG_EVENT = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000000,
0.m4s
#EXTINF:4.000000,
1.m4s
"""


def segments(count: int, duration: float = 4.0) -> tuple[Segment, ...]:
    return tuple(Segment(f"{n}.m4s", duration) for n in range(count))


# -- reading ffmpeg's playlists ----------------------------------------------------------


def test_ffmpeg_event_playlist_lists_the_complete_segments() -> None:
    parsed = parse_ffmpeg_playlist(FFMPEG_EVENT)
    assert parsed == FfmpegPlaylist(7, 4, "init.mp4", segments(2), ended=False)
    ended = parse_ffmpeg_playlist(FFMPEG_EVENT + "#EXTINF:1.5,\n2.m4s\n#EXT-X-ENDLIST\n")
    assert ended.ended and ended.segments[-1] == Segment("2.m4s", 1.5)


def test_a_segment_without_its_duration_is_not_counted() -> None:
    # A reader must never list a segment it cannot describe.
    parsed = parse_ffmpeg_playlist(FFMPEG_EVENT + "2.m4s\n")
    assert [s.name for s in parsed.segments] == ["0.m4s", "1.m4s"]


@pytest.mark.parametrize("name", ["../other/0.m4s", "sub/0.m4s", "http://x/0.m4s", ".hidden"])
def test_names_outside_the_rendition_directory_are_refused(name: str) -> None:
    with pytest.raises(PlaylistError):
        parse_ffmpeg_playlist(f"#EXTM3U\n#EXTINF:4,\n{name}\n")
    with pytest.raises(PlaylistError):
        parse_ffmpeg_playlist(f'#EXTM3U\n#EXT-X-MAP:URI="{name}"\n')


# -- target duration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "keyframe", "expected"),
    [(4.0, 2.0, 4), (4.0, 4.0, 4), (6.0, 2.0, 6), (5.0, 2.0, 6), (3.5, 1.0, 4), (2.0, 3.0, 3)],
)
def test_expected_target_duration_is_where_ffmpeg_can_cut(
    segment: float, keyframe: float, expected: int
) -> None:
    """Cuts land on the first keyframe at or after each segment duration."""
    assert expected_target_duration(segment, keyframe) == expected


def test_target_duration_covers_every_rounded_extinf() -> None:
    """RFC 8216 §4.3.3.1: each EXTINF rounded to the nearest integer fits the target."""
    assert target_duration(4, segments(3)) == 4
    assert target_duration(4, (Segment("0.m4s", 4.49),)) == 4
    assert target_duration(4, (Segment("0.m4s", 4.5),)) == 5


# -- the playlists players get: EVENT while growing, VOD at the end ----------------------


def playlist(count: int, *, finished: bool, init: str | None = "init.mp4") -> str:
    return media_playlist(
        version=7, target=4, init=init, segments=segments(count), finished=finished
    )


def test_growing_playlist_is_an_event_playlist_that_starts_at_the_beginning() -> None:
    parsed = m3u8.loads(playlist(2, finished=False))
    assert parsed.playlist_type == "event" and not parsed.is_endlist
    assert parsed.media_sequence == 0 and parsed.target_duration == 4
    assert parsed.start is not None and parsed.start.time_offset == 0
    assert parsed.segment_map[0].uri == "init.mp4"
    assert [s.uri for s in parsed.segments] == ["0.m4s", "1.m4s"]


def test_finished_playlist_is_vod_with_an_end_tag() -> None:
    parsed = m3u8.loads(playlist(3, finished=True))
    assert parsed.playlist_type == "vod" and parsed.is_endlist
    assert sum(s.duration for s in parsed.segments) == 12.0


def test_each_revision_only_appends_to_the_previous_one() -> None:
    """RFC 8216 §6.2.1/§4.3.3.5: an EVENT playlist changes only by appended segments (and,
    at the end, its type and end tag)."""
    revisions = [playlist(n, finished=False) for n in range(1, 5)]
    for before, after in itertools.pairwise(revisions):
        assert after.startswith(before)
    final = playlist(4, finished=True)
    assert final.replace("TYPE:VOD", "TYPE:EVENT").startswith(revisions[-1])
    assert final.endswith("#EXT-X-ENDLIST\n")


def test_mpegts_playlists_have_no_map() -> None:
    assert "EXT-X-MAP" not in playlist(1, finished=True, init=None)


def test_growing_objects_get_a_short_cache_life() -> None:
    assert cache_control_for("videos/x/v1/240p/index.m3u8", growing=True) == GROWING_PLAYLIST
    assert cache_control_for("videos/x/master.m3u8") == FINISHED_PLAYLIST
    assert cache_control_for("videos/x/v1/240p/0.m4s", growing=True).endswith("immutable")
    assert is_growing(GROWING_PLAYLIST) and not is_growing(FINISHED_PLAYLIST)
    assert not is_growing(None)


# -- the order of publishing -------------------------------------------------------------


def reading(count: int, *, ended: bool = False, init: str | None = "init.mp4") -> FfmpegPlaylist:
    return FfmpegPlaylist(7, 4, init, segments(count), ended)


def test_nothing_is_uploaded_before_ffmpeg_lists_a_segment() -> None:
    rendition = RenditionProgress("240p")
    rendition.learn(reading(0))
    assert rendition.uploads_due() == []
    rendition.learn(reading(1))
    assert rendition.uploads_due() == ["init.mp4", "0.m4s"]


def test_a_playlist_never_skips_a_segment_nor_precedes_its_init() -> None:
    rendition = RenditionProgress("240p")
    rendition.learn(reading(3))
    for name in rendition.uploads_due():
        rendition.started_upload(name)
    assert rendition.uploads_due() == []
    rendition.upload_done("0.m4s")
    rendition.upload_done("2.m4s")
    assert rendition.listable() == ()  # the init segment is not stored yet
    assert not rendition.playlist_due()
    rendition.upload_done("init.mp4")
    assert [s.name for s in rendition.listable()] == ["0.m4s"]  # 1 is missing: stop there
    rendition.playlist_written(1)
    assert not rendition.playlist_due()
    rendition.upload_done("1.m4s")
    assert [s.name for s in rendition.listable()] == ["0.m4s", "1.m4s", "2.m4s"]
    assert rendition.playlist_due()


def test_a_stale_shorter_reading_is_ignored() -> None:
    rendition = RenditionProgress("240p")
    rendition.learn(reading(3))
    rendition.learn(reading(2))
    assert len(rendition.known) == 3


def test_the_master_waits_for_every_rendition_and_is_written_once() -> None:
    order = PublishOrder(["720p", "240p"], progressive=True)
    for name, count in (("720p", 2), ("240p", 1)):
        order.renditions[name].learn(reading(count))
    for name, file in order.uploads_due():
        order.renditions[name].started_upload(file)
        if name == "720p":
            order.renditions[name].upload_done(file)
    assert [r.name for r in order.playlists_due()] == ["720p"]
    order.renditions["720p"].playlist_written(2)
    assert not order.master_due()  # 240p has nothing listed yet
    for file in ("init.mp4", "0.m4s"):
        order.renditions["240p"].upload_done(file)
    order.renditions["240p"].playlist_written(1)
    assert order.master_due()
    order.master_written = True
    assert not order.master_due()


def test_without_progressive_publishing_only_media_goes_out_before_the_end() -> None:
    order = PublishOrder(["240p"], progressive=False)
    order.renditions["240p"].learn(reading(2))
    assert order.uploads_due() == [("240p", "init.mp4"), ("240p", "0.m4s"), ("240p", "1.m4s")]
    for _, file in order.uploads_due():
        order.renditions["240p"].started_upload(file)
        order.renditions["240p"].upload_done(file)
    assert order.playlists_due() == [] and not order.master_due()


def test_complete_only_when_ffmpeg_ended_and_everything_is_stored() -> None:
    order = PublishOrder(["240p"], progressive=True)
    rendition = order.renditions["240p"]
    rendition.learn(reading(2))
    for file in rendition.uploads_due():
        rendition.started_upload(file)
        rendition.upload_done(file)
    assert not order.complete  # ffmpeg may still add segments
    rendition.learn(reading(3, ended=True))
    assert not order.complete and order.missing() == ["240p/2.m4s"]
    rendition.started_upload("2.m4s")
    rendition.upload_done("2.m4s")
    assert order.complete and order.missing() == []


# -- the master of a video still being encoded -------------------------------------------


def rung(name: str, width: int, height: int, bitrate: int, audio: int | None) -> Rung:
    return Rung(
        name=name, width=width, height=height, frame_rate=Fraction(30), video_bitrate=bitrate,
        maxrate=bitrate * 3 // 2, bufsize=bitrate * 2, audio_bitrate=audio,
        audio_channels=2 if audio else None, audio_sample_rate=48000 if audio else None,
    )  # fmt: skip


def test_estimated_master_uses_the_encoder_limits() -> None:
    """RFC 8216 §4.3.4.2: before all segments exist, a representative BANDWIDTH; x264's
    VBV bounds a segment of the target duration at maxrate + bufsize/target."""
    top = estimated_variant(
        rung("720p", 1280, 720, 2_800_000, 128_000), video_codec="avc1.64001f",
        target_duration=4, hls_version=7,
    )  # fmt: skip
    low = estimated_variant(
        rung("240p", 426, 240, 400_000, None), video_codec="avc1.640015", target_duration=4
    )
    assert top.bandwidth == 4_200_000 + 5_600_000 // 4 + 128_000
    assert top.average_bandwidth == 2_800_000 + 128_000
    assert top.codecs == "avc1.64001f,mp4a.40.2" and low.codecs == "avc1.640015"
    parsed = m3u8.loads(master_playlist([low, top], "v1234abcd"))
    assert [p.uri for p in parsed.playlists] == ["v1234abcd/720p/index.m3u8",
                                                 "v1234abcd/240p/index.m3u8"]
    assert parsed.version == 7
    info = parsed.playlists[0].stream_info
    assert info.resolution == (1280, 720) and info.frame_rate == 30.0


# -- the status API ----------------------------------------------------------------------


def video(**changes: object) -> Video:
    return Video(**{"id": "AAAAAAAAAAAAAAAA", "created_at": 1_700_000_000.0, **changes})  # type: ignore[arg-type]


def test_a_processing_video_with_a_master_out_is_playable() -> None:
    data = presenter.video_json(
        video(status=VideoStatus.PROCESSING, progress=12.0, playable_at=1_700_000_005.0), BASE
    )
    assert data["status"] == "processing" and data["playable"] is True
    assert data["playback_url"] == f"{BASE}/v/AAAAAAAAAAAAAAAA/master.m3u8"
    assert data["playable_at"] == "2023-11-14T22:13:25.000Z"
    assert data["progress"] == 12.0
    assert "poster_url" not in data and "renditions" not in data  # only once complete


def test_not_playable_until_a_master_is_out() -> None:
    for status in (VideoStatus.QUEUED, VideoStatus.PROCESSING):
        data = presenter.video_json(video(status=status), BASE)
        assert data["playable"] is False and "playback_url" not in data


def test_ready_means_complete_and_is_always_playable() -> None:
    data = presenter.video_json(video(status=VideoStatus.READY, version="v1"), BASE)
    assert data["playable"] is True and data["playback_url"] and data["poster_url"]


def test_a_failed_video_is_not_offered_for_playback() -> None:
    data = presenter.video_json(
        video(status=VideoStatus.FAILED, error="broken", playable_at=1_700_000_005.0), BASE
    )
    assert data["playable"] is False and "playback_url" not in data


def test_a_queued_retranscode_keeps_its_published_version_playable() -> None:
    data = presenter.video_json(video(status=VideoStatus.QUEUED, playable_at=1.0), BASE)
    assert data["playable"] is True
