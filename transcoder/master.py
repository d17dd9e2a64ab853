"""The master playlist, from what was measured on the encoded renditions (pure).

RFC 8216 §4.3.4.2 (EXT-X-STREAM-INF):
- BANDWIDTH is the peak segment bit rate. Following the definition in the successor draft
  (draft-pantos-hls-rfc8216bis), it is the largest bit rate of any run of consecutive
  segments lasting 0.5 to 1.5 target durations, so a very short last segment cannot
  inflate it. The init segment is not counted: a player fetches it once per rendition
  switch, not with every segment, and it is about a kilobyte.
- AVERAGE-BANDWIDTH is all segment bits over the total duration.
- CODECS lists the real `avc1.PPCCLL` of the encoded stream and `mp4a.40.2`.
- FRAME-RATE has three decimals; RESOLUTION is the encoded width x height.
Variants are listed highest bandwidth first and point at `<version>/<rendition>/index.m3u8`
relative to the master, which lives at `videos/<id>/master.m3u8`.

A master written while the renditions are still being encoded (progressive publishing)
cannot be measured yet. §4.3.4.2 asks for "the BANDWIDTH value of a representative period
of similar content, encoded using the same settings" then; the encoder's own limits are
used (`estimated_variant`): x264's VBV keeps any window of w seconds under
`maxrate * w + bufsize` bits, so no segment of the target duration goes over
`maxrate + bufsize / target` on average, and AVERAGE-BANDWIDTH is the target bit rate.
Both include the audio bit rate. The finished master replaces it with measured values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from transcoder.codecs import AAC_LC
from transcoder.ladder import Rung
from vodstack.catalog import Rendition

PEAK_WINDOW_MIN = 0.5
PEAK_WINDOW_MAX = 1.5


@dataclass(frozen=True)
class SegmentStat:
    duration: float
    """EXTINF seconds."""
    size: int
    """Bytes."""


@dataclass(frozen=True)
class VariantStats:
    """What one encoded rendition turned out to be."""

    name: str
    width: int
    height: int
    frame_rate: Fraction
    video_codec: str
    audio_codec: str | None
    segments: tuple[SegmentStat, ...]
    target_duration: float
    hls_version: int = 3

    @property
    def codecs(self) -> str:
        return ",".join(c for c in (self.video_codec, self.audio_codec) if c)

    @property
    def duration(self) -> float:
        return sum(segment.duration for segment in self.segments)

    @property
    def bandwidth(self) -> int:
        return peak_bandwidth(self.segments, self.target_duration)

    @property
    def average_bandwidth(self) -> int:
        return average_bandwidth(self.segments)


def average_bandwidth(segments: Sequence[SegmentStat]) -> int:
    duration = sum(segment.duration for segment in segments)
    if duration <= 0:
        return 0
    return round(sum(segment.size for segment in segments) * 8 / duration)


def peak_bandwidth(segments: Sequence[SegmentStat], target_duration: float) -> int:
    """Largest bit rate of consecutive segments lasting 0.5 to 1.5 target durations.

    Falls back to the whole stream's rate when no run fits (a clip shorter than half a
    target duration).
    """
    low, high = PEAK_WINDOW_MIN * target_duration, PEAK_WINDOW_MAX * target_duration
    peak = 0.0
    for start in range(len(segments)):
        bits = 0
        duration = 0.0
        for segment in segments[start:]:
            bits += segment.size * 8
            duration += segment.duration
            if duration > high:
                break
            if duration >= low and duration > 0:
                peak = max(peak, bits / duration)
    if peak == 0:
        return average_bandwidth(segments)
    return round(peak)


@dataclass(frozen=True)
class VariantEntry:
    """One EXT-X-STREAM-INF of a master playlist."""

    name: str
    width: int
    height: int
    frame_rate: Fraction
    codecs: str
    bandwidth: int
    average_bandwidth: int
    hls_version: int = 3


def measured_variant(variant: VariantStats) -> VariantEntry:
    return VariantEntry(
        name=variant.name,
        width=variant.width,
        height=variant.height,
        frame_rate=variant.frame_rate,
        codecs=variant.codecs,
        bandwidth=variant.bandwidth,
        average_bandwidth=variant.average_bandwidth,
        hls_version=variant.hls_version,
    )


def estimated_variant(
    rung: Rung, *, video_codec: str, target_duration: float, hls_version: int = 3
) -> VariantEntry:
    """The entry of a rendition still being encoded, from its encoder settings."""
    audio_bits = rung.audio_bitrate or 0
    peak_video = rung.maxrate + rung.bufsize / max(1.0, target_duration)
    return VariantEntry(
        name=rung.name,
        width=rung.width,
        height=rung.height,
        frame_rate=rung.frame_rate,
        codecs=",".join(c for c in (video_codec, AAC_LC if rung.has_audio else None) if c),
        bandwidth=round(peak_video + audio_bits),
        average_bandwidth=rung.video_bitrate + audio_bits,
        hls_version=hls_version,
    )


def variant_uri(version: str, name: str) -> str:
    return f"{version}/{name}/index.m3u8"


def format_frame_rate(rate: Fraction) -> str:
    return f"{float(rate):.3f}"


def build_master(variants: Sequence[VariantStats], version: str) -> str:
    """Text of the master playlist for the renditions published under `version`."""
    return master_playlist([measured_variant(v) for v in variants], version)


def master_playlist(variants: Sequence[VariantEntry], version: str) -> str:
    """Text of a master playlist listing `variants` under `version`."""
    if not variants:
        raise ValueError("a master playlist needs at least one variant")
    ordered = sorted(variants, key=lambda v: (v.bandwidth, v.width * v.height), reverse=True)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{max(v.hls_version for v in variants)}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for variant in ordered:
        attributes = [
            f"BANDWIDTH={variant.bandwidth}",
            f"AVERAGE-BANDWIDTH={variant.average_bandwidth}",
            f"RESOLUTION={variant.width}x{variant.height}",
            f"FRAME-RATE={format_frame_rate(variant.frame_rate)}",
            f'CODECS="{variant.codecs}"',
        ]
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(variant_uri(version, variant.name))
    return "\n".join(lines) + "\n"


def rendition_record(variant: VariantStats) -> Rendition:
    """The catalogue's description of a published rendition."""
    return Rendition(
        name=variant.name,
        width=variant.width,
        height=variant.height,
        bandwidth=variant.bandwidth,
        average_bandwidth=variant.average_bandwidth,
        codecs=variant.codecs,
        frame_rate=round(float(variant.frame_rate), 3),
    )
