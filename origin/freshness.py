"""How long the origin may answer from what it remembers of an object (pure policy).

The origin keeps small objects in memory, large local ones as open files, and the
metadata of large remote ones (`origin.objects`). Each entry is trusted for a short time
after the store last vouched for it, then checked again before the next answer:

- Objects under a version prefix (`videos/<id>/<version>/...`) other than playlists never
  change: a re-transcode writes a new version. Only their deletion can make an entry
  wrong, so they are checked every `immutable` seconds (an existence check).
- Everything else — the master playlist, which a re-transcode replaces, and every
  playlist, which may grow while a video is published — every `mutable` seconds.

The bound this gives: an answer is never based on a store check older than the entry's
interval. So a replaced master is served within `mutable` seconds of the replacement, and
a deleted video stops being served within `immutable` seconds (its master within
`mutable`). A request that finds its entry past the interval waits for the check (one
check per entry, however many requests wait for it); a failing check answers 503 as a
store failure would, it never extends the entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from vodstack.media import is_playlist

VIDEO_LEVEL_PARTS = 3
"""`videos/<id>/<name>`: objects at the video's own level (the master)."""


@dataclass(frozen=True, slots=True)
class CachePolicy:
    memory_bytes: int
    """Bytes of small objects kept in memory (per process)."""
    max_memory_object: int
    """Largest object kept in memory; larger ones are opened files or streamed."""
    open_files: int
    """Open files kept for large local objects (per process)."""
    mutable: float
    """Seconds an entry of a playlist or a top-level object is trusted."""
    immutable: float
    """Seconds an entry of a versioned segment, init segment or image is trusted."""
    max_entries: int = 100_000
    """Entries of any kind (metadata of large remote objects costs no bytes or files)."""

    def interval(self, key: str) -> float:
        return self.immutable if is_immutable(key) else self.mutable

    def fits_in_memory(self, size: int) -> bool:
        return size <= self.max_memory_object and size <= self.memory_bytes


def is_immutable(key: str) -> bool:
    """An object under a version prefix that is not a playlist: its bytes never change
    under its name (docs/decisions.md, "Outputs live under a version prefix")."""
    return key.count("/") >= VIDEO_LEVEL_PARTS and not is_playlist(key)
