"""What is in an uploaded file: ffprobe's JSON turned into a typed `ProbeResult`.

`parse_probe` is pure (tested with captured ffprobe output); `probe` runs ffprobe. Anything
that is not a playable video is rejected here with a `PermanentJobError` whose reason the
uploader can understand, so no transcode is attempted and nothing is retried.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from transcoder.errors import PermanentJobError
from transcoder.runner import clean_line, run_capture

MIN_DIMENSION = 16
"""Smaller than one H.264 macroblock is not a video anyone can watch."""
MAX_PLAUSIBLE_FPS = 1000
DEFAULT_FRAME_RATE = Fraction(30)
"""Used only when the file states no usable frame rate at all."""
CFR_TOLERANCE = 0.01
IMAGE_FORMATS = {"image2", "apng"}
"""Demuxers for still pictures; every `*_pipe` demuxer (png_pipe, jpeg_pipe, ...) also is."""
PROBE_TIMEOUT = 60.0


@dataclass(frozen=True)
class VideoInfo:
    index: int
    """Stream index in the file (what `-map 0:<index>` selects)."""
    codec: str
    pix_fmt: str | None
    width: int
    """Coded (stored) width in pixels."""
    height: int
    sample_aspect_ratio: Fraction
    """Pixel shape; 1 for square pixels (also when the file does not say)."""
    rotation: int
    """Clockwise rotation to apply for display: 0, 90, 180 or 270 degrees."""
    frame_rate: Fraction
    variable_frame_rate: bool
    frame_count: int | None = None

    @property
    def display_width(self) -> int:
        """Width as shown to the viewer, after the pixel aspect ratio and the rotation."""
        return self._display_size()[0]

    @property
    def display_height(self) -> int:
        return self._display_size()[1]

    @property
    def display_aspect_ratio(self) -> float:
        width, height = self._sar_size()
        return height / width if self.rotation % 180 == 90 else width / height

    def _sar_size(self) -> tuple[float, float]:
        return self.width * float(self.sample_aspect_ratio), float(self.height)

    def _display_size(self) -> tuple[int, int]:
        width, height = self._sar_size()
        if self.rotation % 180 == 90:
            width, height = height, width
        return round(width), round(height)


@dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class ProbeResult:
    format_name: str
    duration: float
    """Seconds."""
    video: VideoInfo
    audio: AudioInfo | None
    size: int | None = None
    bit_rate: int | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


# -- parsing ---------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_ratio(text: Any, separator: str = "/") -> Fraction | None:
    """`30000/1001` → Fraction; None for `0/0`, `N/A`, zero or negative values."""
    if not isinstance(text, str) or separator not in text:
        return None
    num, _, den = text.partition(separator)
    try:
        ratio = Fraction(int(num), int(den))
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


def _plausible_rate(text: Any) -> Fraction | None:
    rate = parse_ratio(text)
    return rate if rate is not None and rate <= MAX_PLAUSIBLE_FPS else None


def frame_rate_of(stream: Mapping[str, Any], duration: float) -> tuple[Fraction, bool]:
    """The stream's frame rate and whether it is variable.

    `r_frame_rate` is exact for constant-rate video; when `avg_frame_rate` disagrees by more
    than 1 % the timestamps are irregular (VFR, e.g. phones), and the average is what the
    viewer sees. `0/0` (unknown) falls back to the other field, then frames/duration, then
    30 fps.
    """
    real = _plausible_rate(stream.get("r_frame_rate"))
    average = _plausible_rate(stream.get("avg_frame_rate"))
    if real and average:
        if abs(real - average) <= real * CFR_TOLERANCE:
            return real, False
        return average, True
    if average is not None:
        return average, False
    if real is not None:
        return real, False
    frames = _int(stream.get("nb_frames"))
    if frames and frames > 1 and duration > 0:
        return Fraction(frames / duration).limit_denominator(1001), True
    return DEFAULT_FRAME_RATE, False


def rotation_of(stream: Mapping[str, Any]) -> int:
    """Clockwise display rotation from the display matrix side data, else the `rotate` tag.

    ffprobe reports the display matrix angle counter-clockwise; the legacy `rotate` tag is
    clockwise. Only multiples of 90 degrees are meaningful for video.
    """
    for side_data in stream.get("side_data_list") or ():
        if side_data.get("side_data_type") == "Display Matrix":
            angle = _float(side_data.get("rotation"))
            if angle is not None:
                return _quarter_turns(-angle)
    tag = _float((stream.get("tags") or {}).get("rotate"))
    return _quarter_turns(tag) if tag is not None else 0


def _quarter_turns(degrees: float) -> int:
    return (round(degrees / 90) * 90) % 360


def _is_image_format(format_name: str) -> bool:
    names = format_name.split(",")
    return any(name in IMAGE_FORMATS or name.endswith("_pipe") for name in names)


def _duration_of(data: Mapping[str, Any], stream: Mapping[str, Any]) -> float | None:
    for candidate in (data.get("format", {}).get("duration"), stream.get("duration")):
        value = _float(candidate)
        if value is not None and value > 0:
            return value
    return None


def _video_stream(streams: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for stream in streams:
        if stream.get("codec_type") != "video":
            continue
        if (stream.get("disposition") or {}).get("attached_pic"):
            continue  # cover art of an audio file, not a video track
        return stream
    return None


def _audio_info(streams: Sequence[Mapping[str, Any]]) -> AudioInfo | None:
    for stream in streams:
        if stream.get("codec_type") == "audio":
            return AudioInfo(
                index=int(stream["index"]),
                codec=str(stream.get("codec_name") or "unknown"),
                channels=_int(stream.get("channels")) or 0,
                sample_rate=_int(stream.get("sample_rate")) or 0,
            )
    return None


def format_duration(seconds: float) -> str:
    """`6h`, `1h 30m`, `90s`, `2.5s`: a length as people write it."""
    if seconds < 60:
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + "s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return " ".join(f"{value}{unit}" for value, unit in parts if value)


def parse_probe(
    data: Mapping[str, Any], *, max_dimension: int = 8192, max_duration: float = math.inf
) -> ProbeResult:
    """ffprobe `-show_format -show_streams` JSON → ProbeResult, or PermanentJobError."""
    fmt = data.get("format") or {}
    format_name = str(fmt.get("format_name") or "")
    streams: list[Mapping[str, Any]] = list(data.get("streams") or [])
    if not fmt and not streams:
        raise PermanentJobError(
            "the file is not a video ffmpeg can read (nothing recognisable in it)"
        )

    video = _video_stream(streams)
    if video is None:
        audio_codec = next(
            (s.get("codec_name") for s in streams if s.get("codec_type") == "audio"), None
        )
        if audio_codec:
            raise PermanentJobError(
                f"the file has no video, only audio ({audio_codec}); upload a video file"
            )
        raise PermanentJobError("the file has no video stream")

    codec = str(video.get("codec_name") or "unknown")
    frame_count = _int(video.get("nb_frames"))
    if _is_image_format(format_name) or frame_count == 1:
        raise PermanentJobError(
            f"the file is a still image ({codec}), not a video; upload a video file"
        )

    width, height = _int(video.get("width")) or 0, _int(video.get("height")) or 0
    if width < MIN_DIMENSION or height < MIN_DIMENSION:
        raise PermanentJobError(
            f"the video is {width}x{height} pixels; the smallest accepted is "
            f"{MIN_DIMENSION}x{MIN_DIMENSION}"
        )

    duration = _duration_of(data, video)
    if duration is None:
        raise PermanentJobError(
            "the video's duration is unknown or zero (the file may be incomplete)"
        )

    if duration > max_duration:
        raise PermanentJobError(
            f"the video is {format_duration(duration)} long; the longest accepted is "
            f"{format_duration(max_duration)}"
        )

    sar = parse_ratio(video.get("sample_aspect_ratio"), ":") or Fraction(1)
    if not Fraction(1, 16) <= sar <= 16:
        sar = Fraction(1)  # a nonsense pixel shape is a muxing error; show the pixels as stored
    frame_rate, variable = frame_rate_of(video, duration)
    info = VideoInfo(
        index=int(video.get("index", 0)),
        codec=codec,
        pix_fmt=video.get("pix_fmt"),
        width=width,
        height=height,
        sample_aspect_ratio=sar,
        rotation=rotation_of(video),
        frame_rate=frame_rate,
        variable_frame_rate=variable,
        frame_count=frame_count,
    )
    largest = max(width, height, info.display_width, info.display_height)
    if largest > max_dimension:
        raise PermanentJobError(
            f"the video is {info.display_width}x{info.display_height} pixels; the largest "
            f"accepted is {max_dimension} pixels on either side"
        )
    if min(info.display_width, info.display_height) < MIN_DIMENSION:
        raise PermanentJobError(
            f"the video is {info.display_width}x{info.display_height} pixels once its pixel "
            "aspect ratio is applied; it is too thin to show"
        )
    return ProbeResult(
        format_name=format_name,
        duration=duration,
        video=info,
        audio=_audio_info(streams),
        size=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
    )


def unreadable_reason(stderr_lines: Sequence[str], path: Path | str) -> str:
    """The user-facing reason for a file ffprobe could not open at all."""
    lines = [clean_line(line, [path]) for line in stderr_lines if line.strip()]
    if any("moov atom not found" in line for line in lines):
        detail = "moov atom not found; the file is incomplete, was the upload cut short?"
    else:
        detail = lines[-1] if lines else "no details"
    return f"the file is not a video ffmpeg can read (ffprobe: {detail})"


# -- running ffprobe -------------------------------------------------------------------


def probe_command(ffprobe: str, path: Path) -> list[str]:
    return [
        ffprobe, "-hide_banner", "-v", "error",
        "-print_format", "json", "-show_format", "-show_streams", str(path),
    ]


async def probe(
    path: Path,
    *,
    ffprobe: str = "ffprobe",
    max_dimension: int = 8192,
    max_duration: float = math.inf,
    time_limit: float = PROBE_TIMEOUT,
    nice: int = 0,
) -> ProbeResult:
    """Run ffprobe on a local file. PermanentJobError for anything not a playable video."""
    result = await run_capture(probe_command(ffprobe, path), time_limit=time_limit, nice=nice)
    if result.returncode != 0:
        raise PermanentJobError(unreadable_reason(result.stderr_tail, path))
    try:
        data = json.loads(result.stdout or b"{}")
    except ValueError:
        raise PermanentJobError(
            "the file is not a video ffmpeg can read (ffprobe gave no usable answer)"
        ) from None
    return parse_probe(data, max_dimension=max_dimension, max_duration=max_duration)
