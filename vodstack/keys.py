"""Object-key layout: the only place that knows where things live in the store.

    uploads/<video_id>/source                        original upload
    videos/<video_id>/master.m3u8                    written last: "published"
    videos/<video_id>/<version>/<rendition>/...      playlists, init segment, segments
    videos/<video_id>/<version>/poster.jpg           poster frame

Every transcode writes under a fresh `<version>` so a segment name is never reused for
different bytes, which is what lets segments be cached as immutable.
"""

from __future__ import annotations

import re
import secrets

VIDEO_ID_RE = re.compile(r"[A-Za-z0-9_-]{16}")
_PATH_PART_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
MAX_PATH_PARTS = 4
MASTER_NAME = "master.m3u8"
POSTER_NAME = "poster.jpg"


def new_video_id() -> str:
    """A URL-safe, unguessable id (96 random bits) that starts with a letter or digit,
    so it is never mistaken for an option on a command line."""
    while True:
        video_id = secrets.token_urlsafe(12)
        if video_id[0].isalnum():
            return video_id


def new_version() -> str:
    """A fresh output version prefix for one transcode attempt."""
    return "v" + secrets.token_hex(4)


def is_video_id(text: str) -> bool:
    return VIDEO_ID_RE.fullmatch(text) is not None


def source_key(video_id: str) -> str:
    return f"uploads/{video_id}/source"


def upload_prefix(video_id: str) -> str:
    return f"uploads/{video_id}/"


def video_prefix(video_id: str) -> str:
    return f"videos/{video_id}/"


def master_key(video_id: str) -> str:
    return f"videos/{video_id}/{MASTER_NAME}"


def version_prefix(video_id: str, version: str) -> str:
    return f"videos/{video_id}/{version}/"


def poster_key(video_id: str, version: str) -> str:
    return f"videos/{video_id}/{version}/{POSTER_NAME}"


def rendition_prefix(video_id: str, version: str, rendition: str) -> str:
    return f"videos/{video_id}/{version}/{rendition}/"


def playback_path(video_id: str) -> str:
    """URL path (on the origin or edge) of a video's master playlist."""
    return f"/v/{video_id}/{MASTER_NAME}"


def media_path_for_key(key: str) -> str:
    """URL path on the origin for a key under `videos/`."""
    if not key.startswith("videos/"):
        raise ValueError(f"not a published object: {key}")
    return "/v/" + key[len("videos/"):]


def key_for_media_path(video_id: str, path: str) -> str | None:
    """Map `/v/<video_id>/<path>` to its object key, or None if the path is not acceptable.

    Accepts only plain names (letters, digits, `._-`, not starting with a dot) a few levels
    deep, so no request can reach outside the video's own prefix whatever it encodes.
    """
    if not is_video_id(video_id):
        return None
    parts = path.split("/")
    if not 1 <= len(parts) <= MAX_PATH_PARTS:
        return None
    if not all(_PATH_PART_RE.fullmatch(part) for part in parts):
        return None
    return f"videos/{video_id}/{path}"


def is_valid_key(key: str) -> bool:
    """Keys the stores accept: relative, no empty, `.` or `..` parts, no odd characters."""
    if not key or len(key) > 512 or key.startswith("/") or key.endswith("/"):
        return False
    return all(_PATH_PART_RE.fullmatch(part) for part in key.split("/"))
