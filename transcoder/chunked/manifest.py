"""What one part made: per rendition its segments (name, EXTINF, size), init segment and
codec, stored as `videos/<id>/<version>/parts/<part>.json` after the part's media.

The join reads only these small files (never a segment) to write the playlists and the
master. `measure_video` / `measure_audio` read ffmpeg's outputs (blocking: run them in a
thread).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8

from transcoder.codecs import AAC_LC
from transcoder.ffmpeg_args import OutputLayout
from transcoder.ladder import Rung
from transcoder.measure import IncompleteOutput, measure_rendition
from vodstack import keys

PARTS_DIR = "parts"


def manifest_key(video_id: str, version: str, part: str) -> str:
    return f"{keys.version_prefix(video_id, version)}{PARTS_DIR}/{part}.json"


@dataclass(frozen=True)
class OutputSegment:
    name: str
    duration: float
    """EXTINF seconds, as ffmpeg wrote them."""
    size: int


@dataclass(frozen=True)
class PartRendition:
    name: str
    segments: tuple[OutputSegment, ...]
    codec: str
    """RFC 6381 codec string read from the encoded bytes (`avc1.…`) or `mp4a.40.2`."""
    target_duration: int
    hls_version: int
    init: str | None = None
    """Init segment file name (fMP4), None for MPEG-TS."""
    init_sha256: str | None = None

    @property
    def duration(self) -> float:
        return sum(segment.duration for segment in self.segments)

    @property
    def files(self) -> list[str]:
        """Media files to upload: segments, and the init segment if any."""
        names = [segment.name for segment in self.segments]
        return [self.init, *names] if self.init else names


@dataclass(frozen=True)
class PartManifest:
    part: str
    renditions: tuple[PartRendition, ...]
    poster: bool = False

    def rendition(self, name: str) -> PartRendition:
        for rendition in self.renditions:
            if rendition.name == name:
                return rendition
        raise KeyError(f"part {self.part} made no rendition {name}")

    def to_json(self) -> str:
        return json.dumps(
            {
                "part": self.part,
                "poster": self.poster,
                "renditions": [_rendition_dict(r) for r in self.renditions],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> PartManifest:
        data = json.loads(text)
        return cls(
            part=str(data["part"]),
            poster=bool(data.get("poster")),
            renditions=tuple(_rendition_from(r) for r in data["renditions"]),
        )


def _rendition_dict(rendition: PartRendition) -> dict[str, Any]:
    return {
        "name": rendition.name,
        "codec": rendition.codec,
        "target_duration": rendition.target_duration,
        "hls_version": rendition.hls_version,
        "init": rendition.init,
        "init_sha256": rendition.init_sha256,
        "segments": [[s.name, s.duration, s.size] for s in rendition.segments],
    }


def _rendition_from(data: dict[str, Any]) -> PartRendition:
    return PartRendition(
        name=str(data["name"]),
        codec=str(data["codec"]),
        target_duration=int(data["target_duration"]),
        hls_version=int(data["hls_version"]),
        init=data.get("init"),
        init_sha256=data.get("init_sha256"),
        segments=tuple(
            OutputSegment(str(name), float(duration), int(size))
            for name, duration, size in data["segments"]
        ),
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measure_video(layout: OutputLayout, rungs: Sequence[Rung]) -> list[PartRendition]:
    """Each rung's output of one chunk (blocking)."""
    measured = []
    for rung in rungs:
        encoded = measure_rendition(layout, rung)
        stats = encoded.stats
        media = encoded.files[:-1]  # the playlist comes last
        names = media[len(media) - len(stats.segments):]
        init = media[0] if len(media) > len(stats.segments) else None
        measured.append(
            PartRendition(
                name=rung.name,
                segments=tuple(
                    OutputSegment(name, stat.duration, stat.size)
                    for name, stat in zip(names, stats.segments, strict=True)
                ),
                codec=stats.video_codec,
                target_duration=round(stats.target_duration),
                hls_version=stats.hls_version,
                init=init,
                init_sha256=_sha256(encoded.directory / init) if init else None,
            )
        )
    return measured


def measure_audio(layout: OutputLayout, names: Sequence[str]) -> list[PartRendition]:
    """Each audio rendition's output (blocking)."""
    measured = []
    for name in names:
        directory = layout.rendition_dir(name)
        try:
            playlist = m3u8.loads(layout.playlist(name).read_text())
        except FileNotFoundError:
            raise IncompleteOutput(f"ffmpeg wrote no playlist for {name}") from None
        if not playlist.is_endlist or not playlist.segments:
            raise IncompleteOutput(f"the {name} playlist is unfinished")
        segments = []
        for segment in playlist.segments:
            path = directory / str(segment.uri)
            if "/" in str(segment.uri) or not path.is_file():
                raise IncompleteOutput(f"segment {segment.uri} of {name} is missing")
            segments.append(
                OutputSegment(str(segment.uri), float(segment.duration), path.stat().st_size)
            )
        init = str(playlist.segment_map[0].uri) if playlist.segment_map else None
        measured.append(
            PartRendition(
                name=name,
                segments=tuple(segments),
                codec=AAC_LC,
                target_duration=int(playlist.target_duration or 0),
                hls_version=int(playlist.version or 3),
                init=init,
                init_sha256=_sha256(directory / init) if init else None,
            )
        )
    return measured
