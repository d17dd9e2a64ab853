"""Catalogue records as API JSON: pure functions of a `Video` and the base URLs.

`base` starts API links (status, next page); `media_base` starts playback and poster links
and defaults to `base`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest import urls
from vodstack.catalog import Rendition, Video, VideoStatus
from vodstack.playback.signer import UrlSigner, unsigned


def iso8601(timestamp: float) -> str:
    """`2024-05-01T12:00:00.123Z` (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rendition_json(rendition: Rendition) -> dict[str, Any]:
    return {
        "name": rendition.name,
        "width": rendition.width,
        "height": rendition.height,
        "resolution": f"{rendition.width}x{rendition.height}",
        "bandwidth": rendition.bandwidth,
        "average_bandwidth": rendition.average_bandwidth,
        "codecs": rendition.codecs,
        "frame_rate": rendition.frame_rate,
    }


def clamp_progress(progress: float) -> float:
    return round(min(max(progress, 0.0), 100.0), 1)


def is_playable(video: Video) -> bool:
    """Whether players can start the video now: `ready` (complete), or still being
    (re)transcoded while a master playlist is out (progressive publishing, or the finished
    version of a re-transcode). A failed video is not offered for playback."""
    if video.status is VideoStatus.READY:
        return True
    waiting = video.status in {VideoStatus.QUEUED, VideoStatus.PROCESSING}
    return waiting and video.playable_at is not None


def video_json(
    video: Video, base: str, media_base: str | None = None, sign: UrlSigner = unsigned
) -> dict[str, Any]:
    """`GET /v1/videos/<id>`: what a client needs to follow a video to playback.

    `status` says where the transcode is (`ready` only once it is complete); `playable`
    whether players can start it now, with `playback_url` whenever they can, so a player
    may start a `processing` video that is published as it is transcoded. With signed
    playback, `sign` puts a token in the playback and poster links.
    """
    media = media_base or base
    data: dict[str, Any] = {
        "id": video.id,
        "status": str(video.status),
        "title": video.title,
        "filename": video.filename,
        "size": video.size,
        "created_at": iso8601(video.created_at),
        "updated_at": iso8601(video.updated_at),
        "attempts": video.attempts,
        "status_url": urls.status_url(base, video.id),
        "playable": is_playable(video),
    }
    if video.status is VideoStatus.PROCESSING:
        data["progress"] = clamp_progress(video.progress)
    if video.status is VideoStatus.FAILED:
        data["error"] = video.error or "The video could not be processed."
    if data["playable"]:
        data["playback_url"] = sign(video.id, urls.playback_url(media, video.id))
        data["playable_at"] = iso8601(video.playable_at) if video.playable_at else None
    if video.status is VideoStatus.READY:
        data["duration"] = video.duration
        data["renditions"] = [rendition_json(r) for r in video.renditions]
        data["poster_url"] = (
            sign(video.id, urls.poster_url(media, video.id, video.version))
            if video.version else None
        )
    return data


def created_json(
    video_id: str, base: str, media_base: str | None = None, sign: UrlSigner = unsigned
) -> dict[str, Any]:
    """Answer to a successful upload (and to its idempotent replays, unchanged)."""
    return {
        "id": video_id,
        "status": str(VideoStatus.QUEUED),
        "status_url": urls.status_url(base, video_id),
        "playback_url": sign(video_id, urls.playback_url(media_base or base, video_id)),
    }


def list_json(
    videos: list[Video],
    next_cursor: str | None,
    base: str,
    *,
    limit: int,
    status: VideoStatus | None,
    media_base: str | None = None,
    sign: UrlSigner = unsigned,
) -> dict[str, Any]:
    next_url = (
        urls.list_url(base, limit=limit, cursor=next_cursor, status=str(status) if status else None)
        if next_cursor
        else None
    )
    return {
        "videos": [video_json(video, base, media_base, sign) for video in videos],
        "next_cursor": next_cursor,
        "next_url": next_url,
    }
