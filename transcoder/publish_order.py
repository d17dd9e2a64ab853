"""In which order an attempt's files reach the store while ffmpeg writes them (pure).

The rules that make every playlist a player can reach safe to follow:

1. A segment is uploaded once ffmpeg's playlist lists it (complete and renamed into
   place); the init segment once the first segment is listed (ffmpeg wrote it before).
2. A rendition's playlist lists the longest run of stored segments from the first one,
   and nothing before its init segment is stored: uploads finish in any order, and a
   playlist never skips a segment or names one that is not in the store.
3. A playlist is rewritten only when it would list more than its last revision did.
4. The master is written once every rendition's playlist has been written with at least
   one segment: every variant it names exists and has something to play.
5. At the end every segment is stored before the finished playlists are written, and
   those before the finished master (`complete`).

The publisher (`transcoder.streaming`) does the I/O and reports back here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from transcoder.media_playlist import FfmpegPlaylist, Segment


@dataclass
class RenditionProgress:
    name: str
    known: tuple[Segment, ...] = ()
    """Complete segments, as ffmpeg's playlist last listed them."""
    init: str | None = None
    hls_version: int = 3
    """EXT-X-VERSION of ffmpeg's playlist (what its tags need), kept in ours."""
    ended: bool = False
    """ffmpeg's playlist has its end tag: no more segments will come."""
    started: set[str] = field(default_factory=set)
    stored: set[str] = field(default_factory=set)
    listed: int = 0
    """Segments named by the last playlist written."""

    def learn(self, playlist: FfmpegPlaylist) -> None:
        """Take in a fresh reading of ffmpeg's playlist (a shorter one is a stale read)."""
        if len(playlist.segments) >= len(self.known):
            self.known = playlist.segments
            self.ended = playlist.ended
        if playlist.init is not None:
            self.init = playlist.init
        self.hls_version = max(self.hls_version, playlist.version)

    def uploads_due(self) -> list[str]:
        """Files to upload now (rule 1), init first."""
        if not self.known:
            return []
        names = [self.init] if self.init is not None else []
        names += [segment.name for segment in self.known]
        return [name for name in names if name not in self.started]

    def started_upload(self, name: str) -> None:
        self.started.add(name)

    def upload_done(self, name: str) -> None:
        self.stored.add(name)

    def listable(self) -> tuple[Segment, ...]:
        """What a playlist may name now (rule 2)."""
        if self.init is not None and self.init not in self.stored:
            return ()
        count = 0
        for segment in self.known:
            if segment.name not in self.stored:
                break
            count += 1
        return self.known[:count]

    def playlist_due(self) -> bool:
        """Rule 3."""
        return len(self.listable()) > self.listed

    def playlist_written(self, listed: int) -> None:
        self.listed = max(self.listed, listed)

    @property
    def complete(self) -> bool:
        """ffmpeg is done with it and everything it wrote is stored."""
        return self.ended and len(self.listable()) == len(self.known) > 0


class PublishOrder:
    """The state of one attempt's renditions; `progressive` allows playlists and the master
    before the end (off when a finished master must keep being served meanwhile)."""

    def __init__(self, names: Iterable[str], *, progressive: bool) -> None:
        self.renditions = {name: RenditionProgress(name) for name in names}
        self.progressive = progressive
        self.master_written = False

    def uploads_due(self) -> list[tuple[str, str]]:
        """(rendition, file name) to upload now."""
        return [
            (rendition.name, name)
            for rendition in self.renditions.values()
            for name in rendition.uploads_due()
        ]

    def playlists_due(self) -> list[RenditionProgress]:
        """Renditions whose growing playlist should be rewritten now."""
        if not self.progressive:
            return []
        return [r for r in self.renditions.values() if r.playlist_due()]

    def master_due(self) -> bool:
        """Rule 4: the growing master, once, when every rendition has a playlist."""
        return (
            self.progressive
            and not self.master_written
            and all(rendition.listed > 0 for rendition in self.renditions.values())
        )

    @property
    def complete(self) -> bool:
        """Rule 5: ready for the finished playlists."""
        return all(rendition.complete for rendition in self.renditions.values())

    def missing(self) -> list[str]:
        """`rendition/file` still not stored (for an error message)."""
        return [
            f"{rendition.name}/{name}"
            for rendition in self.renditions.values()
            for name in ([rendition.init] if rendition.init else [])
            + [segment.name for segment in rendition.known]
            if name not in rendition.stored
        ]
