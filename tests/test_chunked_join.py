"""Joining parts into playlists and a master, chunk commands, job payloads (all pure)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import m3u8
import pytest

from tests.test_chunked_plan import plan_for
from transcoder.chunked.args import audio_args, chunk_args
from transcoder.chunked.jobs import (
    HandedOn,
    JobKind,
    describe_job,
    is_chunked_job,
    job_kind,
    join_payload,
    part_payload,
    plan_of,
    video_reason,
)
from transcoder.chunked.join import (
    JoinError,
    audio_rendition,
    audio_stats,
    joined_rendition,
    joined_variants,
    master_with_audio_groups,
    media_playlist,
    target_duration,
    video_stats,
)
from transcoder.chunked.manifest import OutputSegment, PartManifest, PartRendition
from transcoder.chunked.plan import AUDIO_PART, ChunkPlan
from transcoder.errors import PermanentJobError
from transcoder.ffmpeg_args import EncodeOptions, OutputLayout
from vodstack.queue import Job

SEGMENT_BYTES = {"720p": 1_000_000, "480p": 500_000, "360p": 300_000, "240p": 150_000}


def made(plan: ChunkPlan, part: str, *, init_hash: str = "same") -> PartManifest:
    """What a part would report: 4 s segments (audio: 4.01/3.99), sizes per rung."""
    if part == AUDIO_PART:
        renditions = []
        for audio in plan.audio_renditions:
            durations = [4.010667, 3.989333] * 4 + [0.021333]
            segments = tuple(
                OutputSegment(f"{n}.m4s", d, int(audio.bitrate / 8 * d))
                for n, d in enumerate(durations)
            )
            renditions.append(
                PartRendition(audio.name, segments, "mp4a.40.2", 4, 7, "init.mp4", "a")
            )
        return PartManifest(part, tuple(renditions))
    chunk = plan.chunk(part)
    count = round(plan.chunk_seconds(chunk) / 4)
    renditions = []
    for rung in plan.rungs:
        segments = tuple(
            OutputSegment(f"{chunk.first_segment + n}.m4s", 4.0, SEGMENT_BYTES[rung.name])
            for n in range(count)
        )
        renditions.append(
            PartRendition(rung.name, segments, "avc1.64001f", 4, 7, "init.mp4", init_hash)
        )
    return PartManifest(part, tuple(renditions), poster=chunk.index == 0)


def test_a_rung_joins_its_chunks_segments_in_order_with_one_init() -> None:
    plan = plan_for(32.0)  # 4 chunks of 8 s
    manifests = {part: made(plan, part) for part in plan.parts}
    joined = joined_rendition(plan, manifests, "720p")
    assert [s.name for s in joined.segments] == [f"{n}.m4s" for n in range(8)]
    assert joined.duration == pytest.approx(32.0)
    text = media_playlist(joined)
    parsed = m3u8.loads(text)
    assert parsed.is_endlist and parsed.playlist_type == "vod"
    assert parsed.target_duration == 4 and parsed.version == 7
    assert parsed.segment_map[0].uri == "init.mp4"
    assert [s.uri for s in parsed.segments] == [s.name for s in joined.segments]
    assert [s.duration for s in parsed.segments] == [4.0] * 8
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text and "#EXT-X-MEDIA-SEQUENCE:0" in text


def test_chunks_whose_init_segments_differ_are_not_joined() -> None:
    plan = plan_for(24.0)
    manifests = {part: made(plan, part) for part in plan.parts}
    manifests["v2"] = made(plan, "v2", init_hash="other")
    with pytest.raises(JoinError, match="different init segments"):
        joined_rendition(plan, manifests, "480p")
    manifests["v2"] = made(plan, "v1")  # the same names twice
    with pytest.raises(JoinError, match="named two segments alike"):
        joined_rendition(plan, manifests, "480p")


def test_target_duration_is_the_longest_extinf_rounded_to_the_nearest_integer() -> None:
    """RFC 8216 §4.3.3.1."""
    segments = [OutputSegment("a", 4.004, 1), OutputSegment("b", 4.5, 1)]
    assert target_duration(segments) == 5
    assert target_duration([OutputSegment("a", 4.49, 1)]) == 4
    assert target_duration([OutputSegment("a", 0.2, 1)]) == 1


def test_the_master_groups_audio_and_adds_it_to_each_variants_bandwidth() -> None:
    plan = plan_for(24.0)
    manifests = {part: made(plan, part) for part in plan.parts}
    videos = {
        rung.name: video_stats(rung, joined_rendition(plan, manifests, rung.name))
        for rung in plan.rungs
    }
    audios = {
        audio.name: audio_stats(audio, audio_rendition(manifests, audio))
        for audio in plan.audio_renditions
    }
    variants = joined_variants(plan, videos, audios)
    text = master_with_audio_groups(variants, list(audios.values()), "v12345678")
    master = m3u8.loads(text)
    assert [m.group_id for m in master.media] == ["audio-128k", "audio-96k", "audio-64k"]
    assert all(m.type == "AUDIO" and m.default == "YES" for m in master.media)
    assert master.media[0].uri == "v12345678/audio-128k/index.m3u8"
    names = [p.uri.split("/")[1] for p in master.playlists]
    assert names == ["720p", "480p", "360p", "240p"]
    by_name = {v.video.name: v for v in variants}
    for playlist in master.playlists:
        variant = by_name[playlist.uri.split("/")[1]]
        info = playlist.stream_info
        assert variant.audio is not None
        assert info.audio == variant.audio.audio.name
        assert info.bandwidth == variant.video.bandwidth + variant.audio.bandwidth
        assert info.average_bandwidth == (
            variant.video.average_bandwidth + variant.audio.average_bandwidth
        )
        assert info.codecs == "avc1.64001f,mp4a.40.2"
    assert by_name["720p"].audio.audio.bitrate == 128_000  # type: ignore[union-attr]
    assert by_name["360p"].audio.audio.bitrate == 96_000  # type: ignore[union-attr]
    record = by_name["720p"].record()
    assert (record.bandwidth, record.codecs) == (by_name["720p"].bandwidth, "avc1.64001f,mp4a.40.2")


def test_a_silent_video_has_no_audio_groups() -> None:
    plan = plan_for(24.0, audio=None)
    manifests = {part: made(plan, part) for part in plan.parts}
    videos = {
        rung.name: video_stats(rung, joined_rendition(plan, manifests, rung.name))
        for rung in plan.rungs
    }
    text = master_with_audio_groups(joined_variants(plan, videos, {}), [], "v1")
    assert "EXT-X-MEDIA" not in text and "AUDIO=" not in text and "mp4a" not in text


def test_a_chunk_command_reads_its_range_and_continues_the_timeline() -> None:
    plan = dataclasses.replace(plan_for(24.0), version="v1")
    layout = OutputLayout(Path("/scratch/out"), ".m4s")
    args = chunk_args(Path("/src"), plan, plan.chunks[1], layout, EncodeOptions(threads=1))
    assert args[args.index("-ss") + 1] == "5.000000"  # 3 s before the chunk
    assert "-noaccurate_seek" in args and args.index("-noaccurate_seek") < args.index("-i")
    assert "-copyts" in args and "-start_at_zero" in args
    graph = args[args.index("-filter_complex") + 1]
    assert "fps=fps=30[" in graph and "trim=end=16.000000:start=8.000000" in graph
    assert "split=4" in graph  # four rungs, no poster in this chunk
    first = args[: args.index("/scratch/out/720p/index.m3u8")]
    assert first[first.index("-start_number") + 1] == "2"
    assert first[first.index("-force_key_frames") + 1] == "expr:gte(t,(n_forced+4)*2)"
    assert first[first.index("-hls_time") + 1] == "3.999500"
    assert first[first.index("-hls_segment_options") + 1] == (
        "movflags=+frag_discont:avoid_negative_ts=disabled"
    )
    assert "-c:a" not in args and "0:1" not in args
    poster = chunk_args(Path("/src"), plan, plan.chunks[0], layout, EncodeOptions(),
                        poster=layout.poster)  # fmt: skip
    assert "split=5" in poster[poster.index("-filter_complex") + 1]
    assert poster[-1] != str(layout.poster) and str(layout.poster) in poster


def test_the_audio_command_encodes_every_audio_format_of_the_whole_video() -> None:
    plan = dataclasses.replace(plan_for(120.0, height=1080), version="v1")
    layout = OutputLayout(Path("/scratch/out"), ".m4s")
    args = audio_args(Path("/src"), plan, layout, EncodeOptions())
    assert "-ss" not in args and "-copyts" not in args
    assert args.count("0:1") == 3
    assert [args[i + 1] for i, a in enumerate(args) if a == "-b:a"] == [
        "128000", "96000", "64000",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        audio_args(Path("/src"), plan_for(24.0, audio=None), layout, EncodeOptions())


def job(payload: dict[str, object]) -> Job:
    return Job(id="j1", video_id="AAAAAAAAAAAAAAAA", attempts=1, max_attempts=3,
               lease_token="t", payload=dict(payload))  # fmt: skip


def test_part_and_join_jobs_carry_the_plan_and_say_what_failed() -> None:
    plan = dataclasses.replace(plan_for(24.0), version="vabc")
    upload = job({"video_id": "AAAAAAAAAAAAAAAA", "source_key": "uploads/x/source",
                  "request_id": "r1"})  # fmt: skip
    assert job_kind(upload) is JobKind.TRANSCODE and not is_chunked_job(upload)
    part = job(part_payload(upload, plan, "v1"))
    assert job_kind(part) is JobKind.PART and is_chunked_job(part)
    assert plan_of(part) == plan and part.payload["request_id"] == "r1"
    assert video_reason(part, "ffmpeg crashed") == "chunk 2 of 3 (0:08-0:16): ffmpeg crashed"
    assert describe_job(part) == "(chunk 2 of 3 (0:08-0:16) of vabc)"
    audio = job(part_payload(upload, plan, AUDIO_PART))
    assert video_reason(audio, "x") == "the audio: x"
    joining = job(join_payload(upload, plan))
    assert job_kind(joining) is JobKind.JOIN
    assert video_reason(joining, "x") == "joining the chunks: x"
    assert video_reason(upload, "x") == "x" and describe_job(upload) == ""
    with pytest.raises(PermanentJobError, match="kind this worker does not know"):
        job_kind(job({"kind": "transmogrify"}))
    with pytest.raises(PermanentJobError, match="plan is unreadable"):
        plan_of(job({"kind": "part", "plan": {"version": "v"}}))
    assert HandedOn("x").detail == "x"


def test_manifests_travel_as_json() -> None:
    plan = plan_for(24.0)
    manifest = made(plan, "v0")
    assert PartManifest.from_json(manifest.to_json()) == manifest
    audio = made(plan, AUDIO_PART)
    assert PartManifest.from_json(audio.to_json()) == audio
    assert audio.renditions[0].files[0] == "init.mp4"
