"""Media playlists, as pure functions: reading ffmpeg's, writing the ones players get.

While ffmpeg runs, its playlist for a rung (an EVENT playlist rewritten atomically after
each segment, see `transcoder.ffmpeg_args`) says which segments are complete and how long
each is. The playlists that are published are built here from what has actually been
stored, so they never name an object that is not in the store yet:

- growing: `#EXT-X-PLAYLIST-TYPE:EVENT`, no `EXT-X-ENDLIST`; a player reloads it and
  finds the segments appended since (RFC 8216 §4.3.3.5: an EVENT playlist only ever has
  segments appended);
- finished: the same lines with `#EXT-X-PLAYLIST-TYPE:VOD` and `#EXT-X-ENDLIST`
  (§4.3.3.4): no more reloads, the whole duration known.

Every revision starts with the same header (version, target duration, media sequence 0,
start offset, map), so a revision differs from the previous one only by appended segments
and, at the end, the playlist type and the end tag. `#EXT-X-START:TIME-OFFSET=0`
(§4.3.5.2) makes players start a growing video at its beginning rather than near its
"live" edge, as they would for a playlist without an end.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

EVENT = "EVENT"
VOD = "VOD"
_PLAIN_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_MAP_URI_RE = re.compile(r'URI="([^"]*)"')


@dataclass(frozen=True)
class Segment:
    name: str
    """File name, relative to the playlist."""
    duration: float
    """EXTINF seconds."""


@dataclass(frozen=True)
class FfmpegPlaylist:
    """What one of ffmpeg's playlists says: the complete segments so far."""

    version: int
    target_duration: int
    init: str | None
    segments: tuple[Segment, ...]
    ended: bool


class PlaylistError(ValueError):
    """ffmpeg's playlist names something other than a plain file beside it."""


def is_plain_name(name: str) -> bool:
    return _PLAIN_NAME_RE.fullmatch(name) is not None


def _plain(name: str) -> str:
    if not is_plain_name(name):
        raise PlaylistError(f"unexpected file name in ffmpeg's playlist: {name!r}")
    return name


def parse_ffmpeg_playlist(text: str) -> FfmpegPlaylist:
    """The segments ffmpeg's media playlist lists, in order (PlaylistError for odd names).

    A segment line that is not preceded by its EXTINF is not counted, so a playlist cut
    short (it never is with `temp_file`, but a reader must not trust that) lists fewer
    segments rather than wrong ones.
    """
    version = 3
    target = 0
    init: str | None = None
    segments: list[Segment] = []
    ended = False
    duration: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-VERSION:"):
            version = int(line.partition(":")[2] or 3)
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.partition(":")[2] or 0)
        elif line.startswith("#EXT-X-MAP:"):
            match = _MAP_URI_RE.search(line)
            if match:
                init = _plain(match.group(1))
        elif line.startswith("#EXTINF:"):
            try:
                duration = float(line.partition(":")[2].split(",", 1)[0])
            except ValueError:
                duration = None
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif not line.startswith("#"):
            if duration is not None:
                segments.append(Segment(_plain(line), duration))
            duration = None
    return FfmpegPlaylist(version, target, init, tuple(segments), ended)


def round_half_up(seconds: float) -> int:
    return math.floor(seconds + 0.5)


def expected_target_duration(segment_duration: float, keyframe_interval: float) -> int:
    """The target duration to declare before any segment exists.

    ffmpeg cuts a segment at the first keyframe at or after each `segment_duration`, and
    keyframes are forced every `keyframe_interval` seconds, so segments last at most the
    first multiple of the keyframe interval reaching the segment duration.
    """
    keyframes = max(1, math.ceil(segment_duration / keyframe_interval - 1e-9))
    return max(1, math.ceil(keyframes * keyframe_interval - 1e-9))


def target_duration(declared: int, segments: Sequence[Segment]) -> int:
    """EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer fits in it
    (RFC 8216 §4.3.3.1); the declared value unless a segment came out longer."""
    return max([declared, *(round_half_up(s.duration) for s in segments)])


def media_playlist(
    *,
    version: int,
    target: int,
    init: str | None,
    segments: Sequence[Segment],
    finished: bool,
) -> str:
    """Text of a media playlist listing `segments` (EVENT while growing, VOD when finished)."""
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        f"#EXT-X-PLAYLIST-TYPE:{VOD if finished else EVENT}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START:TIME-OFFSET=0",
    ]
    if init is not None:
        lines.append(f'#EXT-X-MAP:URI="{init}"')
    for segment in segments:
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        lines.append(segment.name)
    if finished:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
