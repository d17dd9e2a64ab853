"""HTTP policy for stored media, as pure functions: content types and Cache-Control.

The worker stores each object's Cache-Control as metadata when it writes it (so a playlist
still being written can say something different from a finished one); the origin serves
that, and falls back to `cache_control_for(key)` for objects written without one.
"""

from __future__ import annotations

import posixpath

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"

_CONTENT_TYPES = {
    ".m3u8": PLAYLIST_TYPE,
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".vtt": "text/vtt",
    ".json": "application/json",
}

# Segments, init segments and images never change under their name: every transcode writes
# under a new version prefix (see vodstack.keys), so they can be cached for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
# Finished playlists: the master keeps its URL across re-transcodes, so caches must look
# again now and then; a minute bounds how long a re-transcode takes to show, and the stale
# allowances keep players going while an origin is briefly slow or down.
FINISHED_PLAYLIST = "public, max-age=60, stale-while-revalidate=300, stale-if-error=86400"
# Playlists still growing while a video is being published (EVENT playlists, and the
# master pointing at them): a player reloads them every few seconds for the segments
# appended since, so a cache may keep one only for a moment.
GROWING_PLAYLIST = "public, max-age=1, stale-while-revalidate=2"
# A video that is not (yet) published: a short negative cache absorbs polling players
# without hiding the video for long once it is ready.
NOT_FOUND = "public, max-age=2"
NO_STORE = "no-store"


def content_type_for(key: str) -> str:
    extension = posixpath.splitext(key)[1].lower()
    return _CONTENT_TYPES.get(extension, "application/octet-stream")


def is_playlist(key: str) -> bool:
    return key.lower().endswith(".m3u8")


def cache_control_for(key: str, *, growing: bool = False) -> str:
    """Cache-Control for a published object, by what kind of object it is."""
    if is_playlist(key):
        return GROWING_PLAYLIST if growing else FINISHED_PLAYLIST
    return IMMUTABLE


def is_growing(cache_control: str | None) -> bool:
    """Whether an object was stored as a playlist still growing (its stored Cache-Control):
    a master stored so belongs to a publication that has not finished."""
    return cache_control == GROWING_PLAYLIST
