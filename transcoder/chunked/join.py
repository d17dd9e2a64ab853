"""Joining the parts' outputs into one ladder: media playlists and the master (pure).

- One media playlist per rung: the chunks' segments in order (their names are already
  global, see `plan`), each EXTINF exactly as ffmpeg measured it, EXT-X-TARGETDURATION the
  largest EXTINF rounded to the nearest integer (RFC 8216 §4.3.3.1). The chunks' init
  segments must be the same bytes (compared by SHA-256): one `init.mp4` serves them all.
- The audio renditions' playlists are the audio part's, rewritten the same way.
- The master lists each audio rendition as `EXT-X-MEDIA:TYPE=AUDIO` (RFC 8216 §4.3.4.1)
  in a group of its own, and each rung as a variant naming its group (`AUDIO=`). A
  variant's BANDWIDTH and AVERAGE-BANDWIDTH add its audio's to its video's (§4.3.4.2: they
  cover every rendition that plays with it); the peaks are measured as in
  `transcoder.master`. CODECS lists the video's `avc1.…` and `mp4a.40.2`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transcoder.chunked.manifest import OutputSegment, PartManifest, PartRendition
from transcoder.chunked.plan import AUDIO_PART, AudioRendition, ChunkPlan, audio_for
from transcoder.codecs import AAC_LC
from transcoder.ladder import Rung
from transcoder.master import (
    SegmentStat,
    VariantStats,
    average_bandwidth,
    format_frame_rate,
    peak_bandwidth,
    variant_uri,
)
from vodstack.catalog import Rendition


class JoinError(Exception):
    """The parts' outputs cannot be joined as they are; `reason` is user-facing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def target_duration(segments: Sequence[OutputSegment]) -> int:
    """EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer fits in it."""
    return max([1, *(math.floor(segment.duration + 0.5) for segment in segments)])


def joined_rendition(
    plan: ChunkPlan, manifests: Mapping[str, PartManifest], name: str
) -> PartRendition:
    """One rung's segments over all the chunks, in order, with their shared init segment."""
    parts = [manifests[chunk.part].rendition(name) for chunk in plan.chunks]
    if len({part.init_sha256 for part in parts}) > 1:
        raise JoinError(
            f"the chunks of {name} came out with different init segments and cannot be joined"
        )
    if len({part.codec for part in parts}) > 1:
        raise JoinError(f"the chunks of {name} came out with different H.264 profiles or levels")
    segments = tuple(segment for part in parts for segment in part.segments)
    if len({segment.name for segment in segments}) != len(segments):
        raise JoinError(f"the chunks of {name} named two segments alike")
    return PartRendition(
        name=name,
        segments=segments,
        codec=parts[0].codec,
        target_duration=target_duration(segments),
        hls_version=max(part.hls_version for part in parts),
        init=parts[0].init,
        init_sha256=parts[0].init_sha256,
    )


def audio_rendition(
    manifests: Mapping[str, PartManifest], audio: AudioRendition
) -> PartRendition:
    made = manifests[AUDIO_PART].rendition(audio.name)
    return PartRendition(
        name=made.name,
        segments=made.segments,
        codec=made.codec,
        target_duration=target_duration(made.segments),
        hls_version=made.hls_version,
        init=made.init,
        init_sha256=made.init_sha256,
    )


def media_playlist(rendition: PartRendition) -> str:
    """A VOD media playlist in the form ffmpeg writes one."""
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{rendition.hls_version}",
        f"#EXT-X-TARGETDURATION:{target_duration(rendition.segments)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if rendition.init:
        lines.append(f'#EXT-X-MAP:URI="{rendition.init}"')
    for segment in rendition.segments:
        lines += [f"#EXTINF:{segment.duration:.6f},", segment.name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _segment_stats(rendition: PartRendition) -> tuple[SegmentStat, ...]:
    return tuple(SegmentStat(s.duration, s.size) for s in rendition.segments)


def video_stats(rung: Rung, rendition: PartRendition) -> VariantStats:
    return VariantStats(
        name=rung.name,
        width=rung.width,
        height=rung.height,
        frame_rate=rung.frame_rate,
        video_codec=rendition.codec,
        audio_codec=AAC_LC if rung.has_audio else None,
        segments=_segment_stats(rendition),
        target_duration=float(target_duration(rendition.segments)),
        hls_version=rendition.hls_version,
    )


@dataclass(frozen=True)
class AudioStats:
    audio: AudioRendition
    segments: tuple[SegmentStat, ...]
    target_duration: float
    hls_version: int

    @property
    def bandwidth(self) -> int:
        return peak_bandwidth(self.segments, self.target_duration)

    @property
    def average_bandwidth(self) -> int:
        return average_bandwidth(self.segments)


def audio_stats(audio: AudioRendition, rendition: PartRendition) -> AudioStats:
    return AudioStats(
        audio=audio,
        segments=_segment_stats(rendition),
        target_duration=float(target_duration(rendition.segments)),
        hls_version=rendition.hls_version,
    )


@dataclass(frozen=True)
class JoinedVariant:
    video: VariantStats
    audio: AudioStats | None

    @property
    def bandwidth(self) -> int:
        return self.video.bandwidth + (self.audio.bandwidth if self.audio else 0)

    @property
    def average_bandwidth(self) -> int:
        extra = self.audio.average_bandwidth if self.audio else 0
        return self.video.average_bandwidth + extra

    def record(self) -> Rendition:
        """The catalogue's description of this variant."""
        return Rendition(
            name=self.video.name,
            width=self.video.width,
            height=self.video.height,
            bandwidth=self.bandwidth,
            average_bandwidth=self.average_bandwidth,
            codecs=self.video.codecs,
            frame_rate=round(float(self.video.frame_rate), 3),
        )


def joined_variants(
    plan: ChunkPlan, videos: Mapping[str, VariantStats], audios: Mapping[str, AudioStats]
) -> list[JoinedVariant]:
    variants = []
    for rung in plan.rungs:
        audio = audio_for(rung) if plan.audio_renditions else None
        variants.append(
            JoinedVariant(videos[rung.name], audios[audio.name] if audio is not None else None)
        )
    return variants


def master_with_audio_groups(
    variants: Sequence[JoinedVariant], audios: Sequence[AudioStats], version: str
) -> str:
    """The master playlist of a joined ladder (see the module docstring)."""
    if not variants:
        raise ValueError("a master playlist needs at least one variant")
    versions = [v.video.hls_version for v in variants] + [a.hls_version for a in audios]
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{max(versions)}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for audio in audios:
        attributes = [
            "TYPE=AUDIO",
            f'GROUP-ID="{audio.audio.name}"',
            'NAME="Audio"',
            "DEFAULT=YES",
            "AUTOSELECT=YES",
            f'CHANNELS="{audio.audio.channels}"',
            f'URI="{variant_uri(version, audio.audio.name)}"',
        ]
        lines.append("#EXT-X-MEDIA:" + ",".join(attributes))
    ordered = sorted(
        variants, key=lambda v: (v.bandwidth, v.video.width * v.video.height), reverse=True
    )
    for variant in ordered:
        video = variant.video
        attributes = [
            f"BANDWIDTH={variant.bandwidth}",
            f"AVERAGE-BANDWIDTH={variant.average_bandwidth}",
            f"RESOLUTION={video.width}x{video.height}",
            f"FRAME-RATE={format_frame_rate(video.frame_rate)}",
            f'CODECS="{video.codecs}"',
        ]
        if variant.audio is not None:
            attributes.append(f'AUDIO="{variant.audio.audio.name}"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(variant_uri(version, video.name))
    return "\n".join(lines) + "\n"
