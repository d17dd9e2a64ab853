"""What the video's record says about a part or join job that is about to run."""

from __future__ import annotations

from transcoder.errors import VideoGone
from vodstack.catalog import Catalog, VideoStatus


async def nothing_to_do(catalog: Catalog, video_id: str, version: str) -> str | None:
    """Why a part or join of `version` has nothing left to do, or None if it has.

    Raises VideoGone when the video was deleted. A job that runs again after the video was
    published (at-least-once delivery) must not write over published segments, and one
    whose video already failed (another part gave up) would only waste the machine.
    """
    video = await catalog.get(video_id)
    if video is None:
        raise VideoGone(video_id)
    if video.status is VideoStatus.READY:
        if video.version == version:
            return "the video is already published"
        return "another transcode of the video was published"
    if video.status is VideoStatus.FAILED:
        return "the video has failed"
    return None
