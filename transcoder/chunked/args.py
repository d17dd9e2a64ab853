"""The ffmpeg commands of the parts: one video chunk (every rung), or the audio (pure).

A chunk reads its time range only: `-ss` before `-i` seeks to the source keyframe before
the chunk (`-noaccurate_seek`, with a margin), `-copyts -start_at_zero` keep the source's
timeline (as the whole encode sees it: zero at the start of the file), `fps` puts frames on
the output grid and `trim` cuts exactly at the chunk's first and last frame, on that grid.
Its outputs therefore carry the timestamps the frames have in the whole video: fMP4
`tfdt` and MPEG-TS PTS continue across chunks. The rungs get the whole encode's per-output
options (`rendition_options`), without audio, with the chunk's keyframe expression,
`hls_time` and first segment number.

Timestamps are left as they are (`avoid_negative_ts disabled`, also for the segment muxer):
otherwise the muxer shifts a stream that starts below zero (B-frame reordering, AAC
priming) by an amount that differs between chunk 0 and the others. In fMP4, `frag_discont`
makes `tfdt` the packets' own decode time and every chunk's `init.mp4` the same bytes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import ffmpeg

from transcoder.chunked.plan import AudioRendition, ChunkPlan, VideoChunk
from transcoder.ffmpeg_args import (
    INIT_NAME,
    MUXING_QUEUE,
    POSTER_QUALITY,
    EncodeOptions,
    OutputLayout,
    rendition_options,
)

SEEK_MARGIN = 3.0
"""Seconds before a chunk that decoding starts from (at the source keyframe before it)."""
POSTER_SECONDS = 1


def plan_options(plan: ChunkPlan, local: EncodeOptions) -> EncodeOptions:
    """The plan's encoding choices with this worker's own ffmpeg path and thread count."""
    return dataclasses.replace(
        local,
        preset=plan.preset,
        segment_duration=plan.segment_duration,
        keyframe_interval=plan.keyframe_interval,
        segment_format=plan.segment_format,
    )


def _segment_muxer_options(segment_format: str) -> str:
    if segment_format == "fmp4":
        return "movflags=+frag_discont:avoid_negative_ts=disabled"
    return "avoid_negative_ts=disabled"


def _hls_options(
    segment_format: str,
    segment_time: float,
    pattern: Path,
    start_number: int = 0,
    *,
    keep_timestamps: bool = True,
) -> dict[str, Any]:
    """The HLS muxer's options; `keep_timestamps` leaves negative ones as they are (video
    chunks, see above). The audio, one whole encode, lets the muxer start it at zero: its
    AAC priming packet would otherwise get a negative `tfdt`, which fMP4 readers take as a
    huge unsigned time (hls.js then drops the audio after the first segment). It plays
    1024 samples (about 21 ms) later than the video for that: well within lip-sync
    tolerance."""
    opts: dict[str, Any] = {
        "format": "hls",
        "hls_time": f"{segment_time:.6f}",
        "hls_playlist_type": "vod",
        "hls_list_size": 0,
        "hls_flags": "independent_segments",
        "hls_segment_filename": str(pattern),
        "start_number": start_number,
    }
    if keep_timestamps:
        opts["avoid_negative_ts"] = "disabled"
        opts["hls_segment_options"] = _segment_muxer_options(segment_format)
    if segment_format == "fmp4":
        opts["hls_segment_type"] = "fmp4"
        opts["hls_fmp4_init_filename"] = INIT_NAME
    else:
        opts["hls_segment_type"] = "mpegts"
    return opts


def _global_options(options: EncodeOptions, *extra: str) -> list[str]:
    args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-nostats"]
    args += ["-progress", "pipe:1", "-y", *extra]
    if options.threads > 0:
        args += ["-filter_complex_threads", str(options.threads)]
    return args


def chunk_args(
    source: Path,
    plan: ChunkPlan,
    chunk: VideoChunk,
    layout: OutputLayout,
    options: EncodeOptions,
    *,
    poster: Path | None = None,
) -> list[str]:
    """ffmpeg command encoding one chunk into every rung (and the poster, if given)."""
    options = plan_options(plan, options)
    rate = plan.frame_rate
    start = chunk.start(rate)
    end = chunk.end(rate)
    input_options: dict[str, Any] = {
        "ss": f"{max(0.0, float(start) - SEEK_MARGIN):.6f}",
        "noaccurate_seek": None,
    }
    if options.threads > 0:
        input_options["threads"] = options.threads
    source_input = ffmpeg.input(str(source), **input_options)
    trim = {"start": f"{float(start):.6f}"}
    if end is not None:
        trim["end"] = f"{float(end):.6f}"
    video = (
        source_input[str(plan.video_stream)]
        .filter("fps", fps=str(rate))
        .filter("trim", **trim)
    )
    branches = video.split()
    outputs = []
    for number, rung in enumerate(plan.rungs):
        silent = dataclasses.replace(
            rung, audio_bitrate=None, audio_channels=None, audio_sample_rate=None
        )
        opts = rendition_options(silent, options, layout)
        opts.update(
            _hls_options(
                plan.segment_format,
                plan.hls_time_for(chunk),
                layout.segment_pattern(rung.name),
                chunk.first_segment,
            )
        )
        opts["force_key_frames"] = plan.keyframe_expression(chunk)
        scaled = branches[number].filter("scale", rung.width, rung.height).filter("setsar", "1")
        outputs.append(ffmpeg.output(scaled, str(layout.playlist(rung.name)), **opts))
    if poster is not None:
        top = plan.rungs[0]
        frame = (
            branches[len(plan.rungs)]
            .filter("trim", start=f"{plan.poster_offset:.3f}", duration=POSTER_SECONDS)
            .filter("scale", top.width, top.height)
            .filter("setsar", "1")
        )
        outputs.append(
            ffmpeg.output(frame, str(poster), **{"frames:v": 1, "update": 1, "q:v": POSTER_QUALITY})
        )
    command = ffmpeg.merge_outputs(*outputs).global_args(
        *_global_options(options, "-copyts", "-start_at_zero")
    )
    return [options.ffmpeg, *command.get_args()]


def audio_args(
    source: Path, plan: ChunkPlan, layout: OutputLayout, options: EncodeOptions
) -> list[str]:
    """ffmpeg command encoding the whole video's audio once per audio rendition."""
    if plan.audio_stream is None or not plan.audio_renditions:
        raise ValueError("this video has no audio to encode")
    options = plan_options(plan, options)
    input_options: dict[str, Any] = {}
    if options.threads > 0:
        input_options["threads"] = options.threads
    source_input = ffmpeg.input(str(source), **input_options)
    outputs = []
    for audio in plan.audio_renditions:
        outputs.append(
            ffmpeg.output(
                source_input[str(plan.audio_stream)],
                str(layout.playlist(audio.name)),
                **audio_options(audio, plan, layout),
            )
        )
    command = ffmpeg.merge_outputs(*outputs).global_args(*_global_options(options))
    return [options.ffmpeg, *command.get_args()]


def audio_options(
    audio: AudioRendition, plan: ChunkPlan, layout: OutputLayout
) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "c:a": "aac",
        "b:a": audio.bitrate,
        "ac": audio.channels,
        "ar": audio.sample_rate,
        "map_metadata": -1,
        "max_muxing_queue_size": MUXING_QUEUE,
    }
    opts.update(
        _hls_options(
            plan.segment_format, plan.segment_duration, layout.segment_pattern(audio.name),
            keep_timestamps=False,
        )
    )
    return opts
