"""The one ffmpeg command that turns a source into every rendition and the poster.

The source is decoded once: `fps` makes the frame rate constant, `split` feeds one
`scale,setsar=1` branch per rung and one short `trim` branch for the poster. Each rung is
its own HLS output (H.264 + AAC, or video only for a silent source) in fMP4 (`init.mp4` +
`<n>.m4s`) or MPEG-TS (`<n>.ts`). Keyframes are forced at the same timestamps in every
rung (`expr:gte(t,n_forced*K)`, no scene-cut keyframes, closed GOPs), so segments of all
renditions start at the same instants and players can switch between them anywhere.

Each rung's playlist is an EVENT playlist rewritten after every segment, and segments and
playlists are written under a temporary name and renamed when complete
(`hls_flags temp_file`): while ffmpeg runs, its playlist lists exactly the segments that
are complete, which is what lets the worker publish them as they come
(`transcoder.streaming`). The playlists players get are written by the worker, not these.

The graph and per-output options are expressed with ffmpeg-python; everything here is
pure and returns an argument list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from transcoder.ladder import Rung
from transcoder.probe import ProbeResult
from vodstack.settings import Settings

PLAYLIST_NAME = "index.m3u8"
INIT_NAME = "init.mp4"
POSTER_NAME = "poster.jpg"
POSTER_MAX_OFFSET = 5.0
POSTER_OFFSET_SHARE = 0.1
"""The poster is the frame at 10 % of the video (at most 5 s in): past black intro frames."""
POSTER_QUALITY = 3
"""mjpeg -q:v, 2 (best) to 31."""
MUXING_QUEUE = 4096
"""Packets buffered per output while the others catch up (sources with late audio)."""


@dataclass(frozen=True)
class EncodeOptions:
    ffmpeg: str = "ffmpeg"
    preset: str = "veryfast"
    segment_duration: float = 4.0
    keyframe_interval: float = 2.0
    segment_format: str = "fmp4"
    threads: int = 0
    """0: ffmpeg decides."""

    @classmethod
    def from_settings(cls, settings: Settings) -> EncodeOptions:
        return cls(
            ffmpeg=settings.ffmpeg_path,
            preset=settings.x264_preset,
            segment_duration=settings.segment_duration,
            keyframe_interval=settings.keyframe_interval,
            segment_format=settings.segment_format,
            threads=settings.ffmpeg_threads,
        )

    @property
    def segment_extension(self) -> str:
        return ".m4s" if self.segment_format == "fmp4" else ".ts"


@dataclass(frozen=True)
class OutputLayout:
    """Where one ffmpeg run writes: `<root>/<rung>/index.m3u8`, segments beside it."""

    root: Path
    segment_extension: str = ".m4s"

    def rendition_dir(self, name: str) -> Path:
        return self.root / name

    def playlist(self, name: str) -> Path:
        return self.rendition_dir(name) / PLAYLIST_NAME

    def segment_pattern(self, name: str) -> Path:
        return self.rendition_dir(name) / f"%d{self.segment_extension}"

    @property
    def poster(self) -> Path:
        return self.root / POSTER_NAME


def poster_offset(duration: float, frame_rate: Fraction) -> float:
    """Seconds into the video of the poster frame, on a frame boundary."""
    offset = min(duration * POSTER_OFFSET_SHARE, POSTER_MAX_OFFSET)
    frames = math.floor(offset * frame_rate)
    return float(frames / frame_rate)


def keyframe_expression(interval: float) -> str:
    """`-force_key_frames` value: a keyframe at 0, K, 2K, … seconds, in every rendition."""
    return f"expr:gte(t,n_forced*{interval:g})"


def gop_frames(frame_rate: Fraction, interval: float) -> int:
    return max(1, round(frame_rate * Fraction(interval)))


def rendition_options(rung: Rung, options: EncodeOptions, layout: OutputLayout) -> dict[str, Any]:
    """Per-output ffmpeg options of one rung (encoders, rate control, HLS muxer)."""
    gop = gop_frames(rung.frame_rate, options.keyframe_interval)
    opts: dict[str, Any] = {
        "c:v": "libx264",
        "preset": options.preset,
        "profile:v": "high",
        "pix_fmt": "yuv420p",
        "b:v": rung.video_bitrate,
        "maxrate:v": rung.maxrate,
        "bufsize:v": rung.bufsize,
        "g": gop,
        "keyint_min": gop,
        "sc_threshold": 0,
        "flags": "+cgop",
        "force_key_frames": keyframe_expression(options.keyframe_interval),
        "map_metadata": -1,
        "max_muxing_queue_size": MUXING_QUEUE,
        "format": "hls",
        "hls_time": f"{options.segment_duration:g}",
        "hls_playlist_type": "event",
        "hls_list_size": 0,
        "hls_flags": "independent_segments+temp_file",
        "hls_segment_filename": str(layout.segment_pattern(rung.name)),
    }
    if options.segment_format == "fmp4":
        opts["hls_segment_type"] = "fmp4"
        opts["hls_fmp4_init_filename"] = INIT_NAME
    else:
        opts["hls_segment_type"] = "mpegts"
    if rung.has_audio:
        opts.update(
            {
                "c:a": "aac",
                "b:a": rung.audio_bitrate,
                "ac": rung.audio_channels,
                "ar": rung.audio_sample_rate,
            }
        )
    if options.threads > 0:
        opts["threads"] = options.threads
    return opts


def transcode_args(
    source: Path,
    probe: ProbeResult,
    rungs: list[Rung],
    layout: OutputLayout,
    options: EncodeOptions,
) -> list[str]:
    """The complete ffmpeg command line (program name first)."""
    if not rungs:
        raise ValueError("no renditions to encode")
    input_options: dict[str, Any] = {}
    if options.threads > 0:
        input_options["threads"] = options.threads
    source_input = ffmpeg.input(str(source), **input_options)
    frame_rate = rungs[0].frame_rate
    video = source_input[str(probe.video.index)].filter("fps", fps=str(frame_rate))
    branches = video.split()

    outputs = []
    for number, rung in enumerate(rungs):
        scaled = branches[number].filter("scale", rung.width, rung.height).filter("setsar", "1")
        streams = [scaled]
        if rung.has_audio and probe.audio is not None:
            streams.append(source_input[str(probe.audio.index)])
        outputs.append(
            ffmpeg.output(
                *streams,
                str(layout.playlist(rung.name)),
                **rendition_options(rung, options, layout),
            )
        )

    top = rungs[0]
    poster = (
        branches[len(rungs)]
        .filter("trim", start=f"{poster_offset(probe.duration, frame_rate):.3f}", duration=1)
        .filter("scale", top.width, top.height)
        .filter("setsar", "1")
    )
    outputs.append(
        ffmpeg.output(
            poster, str(layout.poster), **{"frames:v": 1, "update": 1, "q:v": POSTER_QUALITY}
        )
    )

    global_options = ["-hide_banner", "-nostdin", "-loglevel", "error", "-nostats"]
    global_options += ["-progress", "pipe:1", "-y"]
    if options.threads > 0:
        global_options += ["-filter_complex_threads", str(options.threads)]
    command = ffmpeg.merge_outputs(*outputs).global_args(*global_options)
    return [options.ffmpeg, *command.get_args()]
