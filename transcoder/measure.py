"""Measuring what ffmpeg wrote: segment durations and sizes, codec strings, file lists.

Blocking file reads; call `measure_outputs` in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import m3u8

from transcoder.codecs import AAC_LC, avc_from_init_segment, avc_from_transport_stream
from transcoder.ffmpeg_args import PLAYLIST_NAME, OutputLayout
from transcoder.ladder import Rung
from transcoder.master import SegmentStat, VariantStats

TS_PROBE_BYTES = 256 * 1024


class IncompleteOutput(RuntimeError):
    """ffmpeg exited cleanly but a rendition is missing or unfinished."""


@dataclass(frozen=True)
class EncodedRendition:
    stats: VariantStats
    directory: Path
    files: tuple[str, ...]
    """File names in `directory` to publish: init, segments, then the playlist."""


def video_codec(directory: Path, init_name: str | None, first_segment: str) -> str:
    """`avc1.PPCCLL` of what ffmpeg wrote: from the init segment, or the first TS segment."""
    if init_name is not None:
        return avc_from_init_segment((directory / init_name).read_bytes()).codec_string
    with open(directory / first_segment, "rb") as first:
        return avc_from_transport_stream(first.read(TS_PROBE_BYTES)).codec_string


def measure_rendition(layout: OutputLayout, rung: Rung) -> EncodedRendition:
    directory = layout.rendition_dir(rung.name)
    playlist_path = layout.playlist(rung.name)
    try:
        playlist = m3u8.loads(playlist_path.read_text())
    except FileNotFoundError:
        raise IncompleteOutput(f"ffmpeg wrote no playlist for {rung.name}") from None
    if not playlist.is_endlist or not playlist.segments:
        raise IncompleteOutput(f"the {rung.name} playlist is unfinished")

    names: list[str] = []
    init_name: str | None = None
    if playlist.segment_map:
        init_name = str(playlist.segment_map[0].uri)
        names.append(init_name)
    segments = []
    for segment in playlist.segments:
        name = str(segment.uri)
        path = directory / name
        if not path.is_file() or "/" in name:
            raise IncompleteOutput(f"segment {name} of {rung.name} is missing")
        segments.append(SegmentStat(duration=float(segment.duration), size=path.stat().st_size))
        names.append(name)

    stats = VariantStats(
        name=rung.name,
        width=rung.width,
        height=rung.height,
        frame_rate=rung.frame_rate,
        video_codec=video_codec(directory, init_name, str(playlist.segments[0].uri)),
        audio_codec=AAC_LC if rung.has_audio else None,
        segments=tuple(segments),
        target_duration=float(playlist.target_duration or 0),
        hls_version=int(playlist.version or 3),
    )
    return EncodedRendition(stats=stats, directory=directory, files=(*names, PLAYLIST_NAME))


def measure_outputs(layout: OutputLayout, rungs: list[Rung]) -> list[EncodedRendition]:
    return [measure_rendition(layout, rung) for rung in rungs]
