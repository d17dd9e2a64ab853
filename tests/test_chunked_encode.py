"""Chunk and audio commands run by real ffmpeg, joined, and compared with one whole encode:
the same segment durations, one init segment for all chunks, and timestamps that run on
across every joint (video frame after frame, audio packet after packet, in sync)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from fractions import Fraction
from pathlib import Path

import m3u8
import pytest

from tests.support.continuity import decode_errors, stream_times
from transcoder.chunked.args import audio_args, chunk_args
from transcoder.chunked.join import joined_rendition
from transcoder.chunked.manifest import PartManifest, measure_audio, measure_video
from transcoder.chunked.plan import AUDIO_PART, first_frame_at, plan_chunks
from transcoder.ffmpeg_args import EncodeOptions, OutputLayout, transcode_args
from transcoder.ladder import ladder_for
from transcoder.probe import probe
from transcoder.runner import run_ffmpeg

pytestmark = pytest.mark.slow


def make_clip(directory: Path, rate: str, seconds: int) -> Path:
    path = directory / f"clip-{rate.replace('/', '_')}.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=426x240:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


async def encode(command: list[str], seconds: float) -> None:
    await run_ffmpeg(command, time_limit=300, duration=seconds)


def concatenated(layout: OutputLayout, rendition: str, names: list[str], out: Path) -> Path:
    directory = layout.rendition_dir(rendition)
    out.write_bytes(b"".join((directory / name).read_bytes() for name in names))
    return out


@pytest.mark.parametrize(
    ("rate", "segment_format"), [("30", "fmp4"), ("30000/1001", "ts"), ("30000/1001", "fmp4")]
)
async def test_chunks_join_into_the_whole_encodes_segments_and_timeline(
    tmp_path: Path, rate: str, segment_format: str
) -> None:
    clip = await asyncio.to_thread(make_clip, tmp_path, rate, 17)
    info = await probe(clip)
    rungs = ladder_for(info)
    # veryfast reorders frames (B-frames): the case where timestamps start below zero.
    options = EncodeOptions(preset="veryfast", segment_format=segment_format, threads=1)
    plan = plan_chunks(info, rungs, options, 8.0)
    assert plan is not None and len(plan.chunks) == 2 and plan.parts[-1] == AUDIO_PART
    plan = dataclasses.replace(plan, version="vtest")
    extension = options.segment_extension

    manifests: dict[str, PartManifest] = {}
    layouts: dict[str, OutputLayout] = {}
    for chunk in plan.chunks:
        layout = layouts[chunk.part] = OutputLayout(tmp_path / chunk.part, extension)
        for rung in rungs:
            layout.rendition_dir(rung.name).mkdir(parents=True)
        await encode(chunk_args(clip, plan, chunk, layout, options), plan.chunk_seconds(chunk))
        manifests[chunk.part] = PartManifest(chunk.part, tuple(measure_video(layout, rungs)))
    audio_layout = OutputLayout(tmp_path / "audio", extension)
    [audio] = plan.audio_renditions
    audio_layout.rendition_dir(audio.name).mkdir(parents=True)
    await encode(audio_args(clip, plan, audio_layout, options), plan.duration)
    [audio_made] = measure_audio(audio_layout, [audio.name])

    whole = OutputLayout(tmp_path / "whole", extension)
    for rung in rungs:
        whole.rendition_dir(rung.name).mkdir(parents=True)
    await encode(transcode_args(clip, info, rungs, whole, options), info.duration)

    step = 1 / float(plan.frame_rate)
    for rung in rungs:
        joined = joined_rendition(plan, manifests, rung.name)  # checks the init hashes
        whole_playlist = m3u8.loads(whole.playlist(rung.name).read_text())
        assert [s.duration for s in joined.segments] == [
            float(s.duration) for s in whole_playlist.segments
        ]
        assert [s.name for s in joined.segments] == [s.uri for s in whole_playlist.segments]
        assert joined.duration == pytest.approx(info.duration, abs=0.1)

        names = [segment.name for segment in joined.segments]
        pieces = [name for name in names if name.endswith(extension)]
        files = []
        for chunk in plan.chunks:
            layout = layouts[chunk.part]
            made = manifests[chunk.part].rendition(rung.name)
            if made.init:
                assert (layout.rendition_dir(rung.name) / made.init).read_bytes() == (
                    layouts["v0"].rendition_dir(rung.name) / made.init
                ).read_bytes()
            files += [layout.rendition_dir(rung.name) / s.name for s in made.segments]
        init = joined.init and (layouts["v0"].rendition_dir(rung.name) / joined.init)
        stream = tmp_path / f"{rung.name}-joined{'.mp4' if init else '.ts'}"
        stream.write_bytes(
            (init.read_bytes() if init else b"") + b"".join(f.read_bytes() for f in files)
        )
        assert len(files) == len(pieces)
        assert decode_errors(stream) == ""
        [video] = stream_times(stream)
        assert video.codec_type == "video"
        assert video.gaps(step, tolerance=1e-4) == []
        assert len(video.packets) == round(info.duration * float(plan.frame_rate))
        keyframes = sorted(p.pts for p in video.packets if p.key)
        first = video.presentation[0]
        starts = [first]
        for segment in joined.segments[:-1]:
            starts.append(starts[-1] + segment.duration)
        forced = [first + first_frame_at(Fraction(2 * n), plan.frame_rate) * step
                  for n in range(9)]  # fmt: skip
        assert starts == pytest.approx([forced[2 * n] for n in range(len(starts))], abs=1e-4)
        assert keyframes == pytest.approx(forced, abs=step / 2)

    audio_names = [segment.name for segment in audio_made.segments]
    audio_stream = concatenated(
        audio_layout, audio.name,
        [audio_made.init, *audio_names] if audio_made.init else audio_names,
        tmp_path / f"audio{'.mp4' if audio_made.init else '.ts'}",
    )  # fmt: skip
    assert decode_errors(audio_stream) == ""
    [sound] = stream_times(audio_stream)
    assert sound.gaps(1024 / 48000, tolerance=1e-4) == []
    assert audio_made.duration == pytest.approx(info.duration, abs=0.1)
    # Nothing before zero (a negative fMP4 tfdt reads as a huge unsigned time), and in
    # sync: the AAC priming packet (1024 samples) starts with the first frame, so the
    # sound is at most those 21 ms late.
    assert sound.presentation[0] >= 0
    assert sound.presentation[0] == pytest.approx(first, abs=1e-3)
