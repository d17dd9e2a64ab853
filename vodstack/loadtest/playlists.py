"""Master and media playlists as a player needs them (pure; RFC 8216)."""

from __future__ import annotations

from dataclasses import dataclass

import m3u8


class PlaylistError(ValueError):
    """A playlist a player could not use; the message says why."""


@dataclass(frozen=True)
class ByteRange:
    """RFC 8216 §4.3.2.2 EXT-X-BYTERANGE: `length` bytes from `offset`."""

    offset: int
    length: int

    @property
    def header(self) -> str:
        return f"bytes={self.offset}-{self.offset + self.length - 1}"


@dataclass(frozen=True)
class Variant:
    uri: str
    """Absolute URL of the media playlist."""
    bandwidth: int
    resolution: tuple[int, int] | None = None


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float
    byterange: ByteRange | None = None


@dataclass(frozen=True)
class MediaPlaylist:
    segments: tuple[Segment, ...]
    init: Segment | None = None
    """The EXT-X-MAP of the first segment (fMP4), if any (duration 0)."""
    endlist: bool = True

    @property
    def duration(self) -> float:
        return sum(segment.duration for segment in self.segments)


def _load(text: str, url: str) -> m3u8.M3U8:
    if not text.lstrip("\ufeff").startswith("#EXTM3U"):
        raise PlaylistError(f"{url} is not an HLS playlist (no #EXTM3U)")
    try:
        return m3u8.loads(text, uri=url)
    except Exception as exc:  # the parser raises KeyError, ValueError, ... on bad tags
        reason = f"{type(exc).__name__}: {exc}"
        raise PlaylistError(f"{url} is not a valid playlist ({reason})") from None


def parse_master(text: str, url: str) -> list[Variant]:
    """The variants of a master playlist, lowest BANDWIDTH first.

    A media playlist given in place of a master counts as its only variant.
    """
    playlist = _load(text, url)
    if not playlist.is_variant:
        if not playlist.segments:
            raise PlaylistError(f"{url} lists neither variants nor segments")
        return [Variant(url, 0)]
    variants = []
    for entry in playlist.playlists:
        info = entry.stream_info
        if not info.bandwidth:
            raise PlaylistError(f"{url}: variant {entry.uri} has no BANDWIDTH")
        variants.append(Variant(entry.absolute_uri, int(info.bandwidth), info.resolution))
    return sorted(variants, key=lambda variant: variant.bandwidth)


def _byterange(spec: str | None, previous_end: int) -> tuple[ByteRange | None, int]:
    """Parse `length[@offset]`; without an offset the range follows the previous one."""
    if not spec:
        return None, 0
    length_text, _, offset_text = spec.partition("@")
    try:
        length = int(length_text)
        offset = int(offset_text) if offset_text else previous_end
    except ValueError:
        raise PlaylistError(f"bad EXT-X-BYTERANGE {spec!r}") from None
    if length <= 0 or offset < 0:
        raise PlaylistError(f"bad EXT-X-BYTERANGE {spec!r}")
    return ByteRange(offset, length), offset + length


def parse_media(text: str, url: str) -> MediaPlaylist:
    playlist = _load(text, url)
    if playlist.is_variant:
        raise PlaylistError(f"{url} is a master playlist where a media playlist was expected")
    if not playlist.segments:
        raise PlaylistError(f"{url} lists no segments")
    segments = []
    previous_end = 0
    for entry in playlist.segments:
        if entry.duration is None or entry.duration < 0:
            raise PlaylistError(f"{url}: segment {entry.uri} has no EXTINF duration")
        byterange, previous_end = _byterange(entry.byterange, previous_end)
        segments.append(Segment(entry.absolute_uri, float(entry.duration), byterange))
    init = None
    if playlist.segment_map:
        entry = playlist.segment_map[0]
        byterange, _ = _byterange(entry.byterange, 0)
        init = Segment(entry.absolute_uri, 0.0, byterange)
    return MediaPlaylist(tuple(segments), init, bool(playlist.is_endlist))
