"""Which renditions to make of a source: the bitrate ladder, as pure functions.

Rules:
- Rungs are named by their short side (2160p … 240p), so portrait video gets the same
  ladder as landscape: a 480x852 phone clip gives 480p, 360p and 240p at widths 480/360/240.
- Never upscale: only rungs whose short side fits in the source's (display) short side, up
  to `top_rung`. When the source (or `top_rung`) sits well above the largest standard rung
  it reaches (more than 10 %, e.g. 1279x719 or 960x540), one more rung at that size is
  added, so the best rendition keeps the source's detail; a source below 240 gets one rung
  at its own size.
- The display aspect ratio (after the pixel aspect ratio and rotation) is kept; every
  dimension is even (4:2:0 chroma needs it).
- Video bitrates at 30 fps for a 16:9 frame: 2160p 14 Mb/s, 1440p 8 Mb/s, 1080p 5 Mb/s,
  720p 2.8 Mb/s, 480p 1.4 Mb/s, 360p 800 kb/s, 240p 400 kb/s; sizes in between are
  interpolated. They are scaled by the frame's area against 16:9 (0.5x to 1.5x) and by
  frame rate: x1.0 up to 30 fps, rising linearly to x1.5 at 60 fps. maxrate is 1.5x and
  bufsize 2x the target, which keeps peaks within the 2x-of-average HLS authoring limit.
- Frame rate is kept; above 60 fps it is divided by the smallest whole number that brings
  it to 60 or below (120 → 60, 100 → 50, 90 → 45), which drops frames evenly. Variable
  frame rate video is made constant at its average rate, snapped to a standard rate
  (23.976, 24, 25, 29.97, 30, 50, 59.94, 60) when within 3 %.
- Audio: AAC, 128 kb/s from 480p up, 96 kb/s at 360p, 64 kb/s below (half for mono,
  at least 48 kb/s); at most two channels; 44.1/48 kHz kept, anything else made 48 kHz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from transcoder.probe import AudioInfo, ProbeResult

STANDARD_RUNGS = (2160, 1440, 1080, 720, 480, 360, 240)
BITRATE_AT_30FPS = {
    2160: 14_000_000,
    1440: 8_000_000,
    1080: 5_000_000,
    720: 2_800_000,
    480: 1_400_000,
    360: 800_000,
    240: 400_000,
}
MIN_VIDEO_BITRATE = 100_000
EXTRA_RUNG_MARGIN = 1.10
MAXRATE_FACTOR = 1.5
BUFSIZE_FACTOR = 2.0
MAX_FRAME_RATE = 60
STANDARD_FRAME_RATES = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(50), Fraction(60000, 1001), Fraction(60),
)
SNAP_TOLERANCE = 0.03
AUDIO_SAMPLE_RATES = (44100, 48000)
DEFAULT_AUDIO_SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Rung:
    name: str
    """Rendition name and directory: `<short side>p`."""
    width: int
    height: int
    frame_rate: Fraction
    video_bitrate: int
    """Target bit rate, bits/s."""
    maxrate: int
    bufsize: int
    audio_bitrate: int | None = None
    """None when the source has no audio."""
    audio_channels: int | None = None
    audio_sample_rate: int | None = None

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)

    @property
    def has_audio(self) -> bool:
        return self.audio_bitrate is not None


def even(value: float) -> int:
    """Nearest even integer, at least 2."""
    return max(2, 2 * round(value / 2))


def even_floor(value: float) -> int:
    return max(2, 2 * math.floor(value / 2))


def output_frame_rate(rate: Fraction, variable: bool = False) -> Fraction:
    """The constant frame rate every rendition is encoded at (see the module docstring)."""
    if variable:
        nearest = min(STANDARD_FRAME_RATES, key=lambda standard: abs(standard - rate))
        if abs(nearest - rate) <= nearest * SNAP_TOLERANCE:
            rate = nearest
        else:
            rate = rate.limit_denominator(1001)
    if rate > MAX_FRAME_RATE:
        rate = rate / math.ceil(rate / MAX_FRAME_RATE)
    return rate


def frame_rate_factor(rate: float) -> float:
    """x1.0 up to 30 fps, linear to x1.5 at 60 fps (more frames, but each one cheaper)."""
    return 1.0 + 0.5 * min(1.0, max(0.0, (rate - 30) / 30))


def base_bitrate(short_side: int) -> float:
    """30 fps 16:9 bitrate for any short side: the table, interpolated in between."""
    if short_side in BITRATE_AT_30FPS:
        return float(BITRATE_AT_30FPS[short_side])
    smallest = STANDARD_RUNGS[-1]
    if short_side < smallest:
        return BITRATE_AT_30FPS[smallest] * (short_side / smallest) ** 2
    above = min(s for s in STANDARD_RUNGS if s > short_side)
    below = max(s for s in STANDARD_RUNGS if s < short_side)
    share = (short_side - below) / (above - below)
    return BITRATE_AT_30FPS[below] + share * (BITRATE_AT_30FPS[above] - BITRATE_AT_30FPS[below])


def video_bitrate(width: int, height: int, rate: Fraction) -> int:
    short = min(width, height)
    reference_area = short * even(short * 16 / 9)
    area_factor = min(1.5, max(0.5, width * height / reference_area))
    bits = base_bitrate(short) * area_factor * frame_rate_factor(float(rate))
    return max(MIN_VIDEO_BITRATE, round(bits / 1000) * 1000)


def audio_format(audio: AudioInfo) -> tuple[int, int]:
    """(channels, sample rate) of the AAC track."""
    channels = 1 if audio.channels == 1 else 2
    sample_rate = (
        audio.sample_rate if audio.sample_rate in AUDIO_SAMPLE_RATES else DEFAULT_AUDIO_SAMPLE_RATE
    )
    return channels, sample_rate


def audio_bitrate(short_side: int, channels: int) -> int:
    if short_side >= 480:
        bits = 128_000
    elif short_side >= 360:
        bits = 96_000
    else:
        bits = 64_000
    return max(48_000, bits // 2) if channels == 1 else bits


def short_sides(source_short: int, top_rung: int) -> list[int]:
    """Short sides of the rungs, largest first (see the module docstring)."""
    cap = min(top_rung, source_short)
    sides = [side for side in STANDARD_RUNGS if side <= cap]
    if not sides or cap > sides[0] * EXTRA_RUNG_MARGIN:
        sides.insert(0, even_floor(cap))
    return sides


def rung_size(short_side: int, display_width: int, display_height: int) -> tuple[int, int]:
    """Even width and height with this short side and the source's display aspect ratio."""
    if display_width >= display_height:
        aspect = display_width / display_height
        return min(even(short_side * aspect), even_floor(display_width)), short_side
    aspect = display_height / display_width
    return short_side, min(even(short_side * aspect), even_floor(display_height))


def ladder_for(probe: ProbeResult, *, top_rung: int = 1080) -> list[Rung]:
    """The renditions to encode for this source, largest first."""
    video = probe.video
    display_width, display_height = video.display_width, video.display_height
    rate = output_frame_rate(video.frame_rate, video.variable_frame_rate)
    channels, sample_rate = audio_format(probe.audio) if probe.audio else (None, None)
    rungs = []
    for side in short_sides(min(display_width, display_height), top_rung):
        width, height = rung_size(side, display_width, display_height)
        bitrate = video_bitrate(width, height, rate)
        rungs.append(
            Rung(
                name=f"{side}p",
                width=width,
                height=height,
                frame_rate=rate,
                video_bitrate=bitrate,
                maxrate=round(bitrate * MAXRATE_FACTOR),
                bufsize=round(bitrate * BUFSIZE_FACTOR),
                audio_bitrate=audio_bitrate(side, channels) if channels else None,
                audio_channels=channels,
                audio_sample_rate=sample_rate,
            )
        )
    return rungs
