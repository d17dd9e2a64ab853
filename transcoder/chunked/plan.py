"""Where a video is cut, and what each part of a chunked transcode is (pure).

Rules:
- `chunk_duration` C is a multiple of the segment duration S, itself a multiple of the
  keyframe interval K (settings validation). A video is split into floor(duration / C)
  chunks, the last taking the remainder (so every chunk lasts C to 2C); a video shorter
  than two chunks is not split.
- Boundaries lie on the output frame grid (the constant rate every rung is encoded at):
  chunk k starts at frame ceil(k·C·fps), the first frame at or after k·C. That is exactly
  where the whole-video encode forces a keyframe (`gte(t, n·K)`) and starts a segment, so
  every chunk starts on a keyframe and is made of whole segments, and the joined stream is
  the same frames, keyframes and segment durations as one encode would give.
- Chunk k numbers its first segment k·C/S. A chunk never makes more than C/S segments, so
  the names of all chunks together are unique and in order without renaming anything.
- Audio is one more part: the whole video's audio, once per distinct audio format of the
  ladder, published as `EXT-X-MEDIA` audio renditions (AAC priming at every chunk boundary
  would click and drift if each chunk carried its own audio).
- The progress of the whole video is the parts' progress weighted by their cost: a video
  chunk by its seconds, the audio by `AUDIO_WEIGHT` of the video's seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from transcoder.ffmpeg_args import EncodeOptions, poster_offset
from transcoder.ladder import Rung
from transcoder.probe import ProbeResult

AUDIO_PART = "audio"
AUDIO_WEIGHT = 0.03
"""Cost of encoding the audio (every format) relative to the video chunks together."""
SPLIT_MARGIN = Fraction(1, 2000)
"""How far below a planned segment boundary a chunk's `hls_time` threshold sits (see
`hls_time_for`): half a millisecond, far less than a frame."""
MIN_CHUNKS = 2


def fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def parse_fraction(text: str) -> Fraction:
    return Fraction(text)


def exact(seconds: float) -> Fraction:
    """A duration setting as an exact fraction (4.0 → 4, 0.5 → 1/2, 2.002 → 1001/500)."""
    return Fraction(seconds).limit_denominator(1_000_000)


def first_frame_at(seconds: Fraction, rate: Fraction) -> int:
    """Index of the first frame at or after `seconds` on a grid of `rate` frames/s."""
    return math.ceil(seconds * rate)


@dataclass(frozen=True)
class AudioRendition:
    """One AAC rendition of the whole video's audio, shared by the rungs asking for it."""

    bitrate: int
    channels: int
    sample_rate: int

    @property
    def name(self) -> str:
        """Directory and EXT-X-MEDIA GROUP-ID: `audio-128k` (`-mono` for one channel)."""
        suffix = "-mono" if self.channels == 1 else ""
        return f"audio-{self.bitrate // 1000}k{suffix}"


def audio_for(rung: Rung) -> AudioRendition | None:
    if rung.audio_bitrate is None or rung.audio_channels is None:
        return None
    return AudioRendition(
        rung.audio_bitrate, rung.audio_channels, rung.audio_sample_rate or 48000
    )


@dataclass(frozen=True)
class VideoChunk:
    index: int
    start_frame: int
    end_frame: int | None
    """First frame of the next chunk; None for the last chunk (to the end of the source)."""
    first_segment: int
    """Number of its first segment (`-start_number`)."""
    first_keyframe: int
    """How many forced keyframes come before it: k·C/K."""

    @property
    def part(self) -> str:
        return f"v{self.index}"

    def start(self, rate: Fraction) -> Fraction:
        return Fraction(self.start_frame) / rate

    def end(self, rate: Fraction) -> Fraction | None:
        return None if self.end_frame is None else Fraction(self.end_frame) / rate


@dataclass(frozen=True)
class ChunkPlan:
    """Everything a part or the join needs, carried in their job payloads, so they encode
    with the planner's ladder and options whatever their own worker's settings say."""

    version: str
    duration: float
    """Seconds, as probed."""
    frame_rate: Fraction
    segment_duration: float
    keyframe_interval: float
    chunk_duration: float
    segment_format: str
    preset: str
    video_stream: int
    audio_stream: int | None
    rungs: tuple[Rung, ...]
    chunks: tuple[VideoChunk, ...]
    poster_offset: float

    # -- parts ---------------------------------------------------------------------------

    @property
    def audio_renditions(self) -> tuple[AudioRendition, ...]:
        if self.audio_stream is None:
            return ()
        found: dict[AudioRendition, None] = {}
        for rung in self.rungs:
            audio = audio_for(rung)
            if audio is not None:
                found[audio] = None
        return tuple(found)

    @property
    def parts(self) -> tuple[str, ...]:
        """Part ids: `v0`, `v1`, … and `audio` when the video has sound."""
        video = tuple(chunk.part for chunk in self.chunks)
        return (*video, AUDIO_PART) if self.audio_renditions else video

    def chunk(self, part: str) -> VideoChunk:
        for chunk in self.chunks:
            if chunk.part == part:
                return chunk
        raise KeyError(part)

    def chunk_seconds(self, chunk: VideoChunk) -> float:
        start = chunk.start(self.frame_rate)
        end = chunk.end(self.frame_rate)
        if end is None:
            return max(0.0, self.duration - float(start))
        return float(end - start)

    @property
    def poster_chunk(self) -> int:
        """Index of the chunk holding the poster frame."""
        offset = Fraction(self.poster_offset)
        for chunk in self.chunks:
            end = chunk.end(self.frame_rate)
            if end is None or offset < end:
                return chunk.index
        return self.chunks[-1].index

    def hls_time_for(self, chunk: VideoChunk) -> float:
        """`hls_time` of one chunk's outputs, so it cuts where the whole encode would.

        ffmpeg's HLS muxer cuts at the first keyframe at or after start + n·hls_time, start
        being the chunk's first frame, which may lie up to a frame after k·C (29.97 fps:
        8.008 s for 8 s). Lowering the threshold by that lag (plus a hair) puts every cut on
        the keyframe the whole encode cuts at, and never on the one before it (K earlier).
        """
        lag = chunk.start(self.frame_rate) - chunk.first_keyframe * exact(self.keyframe_interval)
        return float(exact(self.segment_duration) - lag - SPLIT_MARGIN)

    def keyframe_expression(self, chunk: VideoChunk) -> str:
        """`-force_key_frames` for a chunk: the whole encode's keyframes (`t` is the
        absolute time, the count starts at the chunk)."""
        return (
            f"expr:gte(t,(n_forced+{chunk.first_keyframe})*{self.keyframe_interval:g})"
        )

    # -- progress ------------------------------------------------------------------------

    def weights(self) -> dict[str, float]:
        video = {chunk.part: max(self.chunk_seconds(chunk), 0.001) for chunk in self.chunks}
        if self.audio_renditions:
            video[AUDIO_PART] = AUDIO_WEIGHT * sum(video.values())
        return video

    def progress(self, parts: Mapping[str, float]) -> float:
        """Percent of all the parts' work done, from each part's own percent."""
        weights = self.weights()
        done = sum(
            weight * min(100.0, max(0.0, parts.get(part, 0.0)))
            for part, weight in weights.items()
        )
        return done / sum(weights.values())

    # -- serialising ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "duration": self.duration,
            "frame_rate": fraction_text(self.frame_rate),
            "segment_duration": self.segment_duration,
            "keyframe_interval": self.keyframe_interval,
            "chunk_duration": self.chunk_duration,
            "segment_format": self.segment_format,
            "preset": self.preset,
            "video_stream": self.video_stream,
            "audio_stream": self.audio_stream,
            "rungs": [rung_to_dict(rung) for rung in self.rungs],
            "chunks": [
                [c.index, c.start_frame, c.end_frame, c.first_segment, c.first_keyframe]
                for c in self.chunks
            ],
            "poster_offset": self.poster_offset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChunkPlan:
        return cls(
            version=str(data["version"]),
            duration=float(data["duration"]),
            frame_rate=parse_fraction(data["frame_rate"]),
            segment_duration=float(data["segment_duration"]),
            keyframe_interval=float(data["keyframe_interval"]),
            chunk_duration=float(data["chunk_duration"]),
            segment_format=str(data["segment_format"]),
            preset=str(data["preset"]),
            video_stream=int(data["video_stream"]),
            audio_stream=None if data["audio_stream"] is None else int(data["audio_stream"]),
            rungs=tuple(rung_from_dict(rung) for rung in data["rungs"]),
            chunks=tuple(
                VideoChunk(int(i), int(s), None if e is None else int(e), int(f), int(k))
                for i, s, e, f, k in data["chunks"]
            ),
            poster_offset=float(data["poster_offset"]),
        )

    def fingerprint(self) -> str:
        """Hash of everything but the version: two plans that differ cut differently."""
        body = {key: value for key, value in self.to_dict().items() if key != "version"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def rung_to_dict(rung: Rung) -> dict[str, Any]:
    return {
        "name": rung.name,
        "width": rung.width,
        "height": rung.height,
        "frame_rate": fraction_text(rung.frame_rate),
        "video_bitrate": rung.video_bitrate,
        "maxrate": rung.maxrate,
        "bufsize": rung.bufsize,
        "audio_bitrate": rung.audio_bitrate,
        "audio_channels": rung.audio_channels,
        "audio_sample_rate": rung.audio_sample_rate,
    }


def rung_from_dict(data: Mapping[str, Any]) -> Rung:
    return Rung(**{**data, "frame_rate": parse_fraction(data["frame_rate"])})


def version_for(job_id: str, plan: ChunkPlan) -> str:
    """The output version of a plan made by job `job_id`: the same when that job runs
    again (its parts may already be queued or done), new for another job or another cut."""
    digest = hashlib.sha256(f"{job_id}:{plan.fingerprint()}".encode()).hexdigest()
    return "v" + digest[:8]


def plan_chunks(
    probe: ProbeResult,
    rungs: list[Rung],
    options: EncodeOptions,
    chunk_duration: float,
) -> ChunkPlan | None:
    """The chunks of this video, or None when it should be transcoded whole."""
    if chunk_duration <= 0 or not rungs:
        return None
    count = math.floor(probe.duration / chunk_duration + 1e-9)
    if count < MIN_CHUNKS:
        return None
    rate = rungs[0].frame_rate
    size = exact(chunk_duration)
    segments_per_chunk = round(size / exact(options.segment_duration))
    keyframes_per_chunk = round(size / exact(options.keyframe_interval))
    starts = [first_frame_at(index * size, rate) for index in range(count)]
    chunks = tuple(
        VideoChunk(
            index=index,
            start_frame=start,
            end_frame=starts[index + 1] if index + 1 < count else None,
            first_segment=index * segments_per_chunk,
            first_keyframe=index * keyframes_per_chunk,
        )
        for index, start in enumerate(starts)
    )
    plan = ChunkPlan(
        version="",
        duration=probe.duration,
        frame_rate=rate,
        segment_duration=options.segment_duration,
        keyframe_interval=options.keyframe_interval,
        chunk_duration=chunk_duration,
        segment_format=options.segment_format,
        preset=options.preset,
        video_stream=probe.video.index,
        audio_stream=probe.audio.index if probe.audio is not None else None,
        rungs=tuple(rungs),
        chunks=chunks,
        poster_offset=poster_offset(probe.duration, rate),
    )
    if not plan.audio_renditions and plan.audio_stream is not None:
        plan = replace(plan, audio_stream=None)
    return plan
