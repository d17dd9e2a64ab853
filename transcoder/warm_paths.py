"""Which URLs of a just-published video to warm on the edges, read from what was published.

The master, the poster, every media playlist, and each rendition's init segment and first
`segments` segments: what a player asks for in its first seconds. The playlists in the
store are the authority on names and order, so they are read back rather than guessed.
"""

from __future__ import annotations

import asyncio

from edge_cache.playlists import warm_targets
from vodstack import keys
from vodstack.store import ObjectNotFound, ObjectStore


def key_for_path(video_id: str, path: str) -> str | None:
    """The store key behind a media URL path of this video (`/v/<id>/...`), if it is one."""
    prefix = keys.media_path_for_key(keys.video_prefix(video_id))
    if not path.startswith(prefix) or "?" in path:
        return None
    return keys.key_for_media_path(video_id, path[len(prefix):])


async def published_paths(
    store: ObjectStore, video_id: str, version: str, segments: int
) -> list[str]:
    """URL paths to warm, master first; [] when the video is no longer published."""
    master_path = keys.playback_path(video_id)
    try:
        master = (await store.read(keys.master_key(video_id))).decode("utf-8", "replace")
    except ObjectNotFound:
        return []
    playlists = [
        path for path in warm_targets(master_path, master, 0)
        if key_for_path(video_id, path) is not None
    ]

    async def expand(path: str) -> list[str]:
        key = key_for_path(video_id, path)
        assert key is not None
        try:
            text = (await store.read(key)).decode("utf-8", "replace")
        except ObjectNotFound:
            return []
        return [path, *warm_targets(path, text, segments)]

    paths = [master_path]
    poster_key = keys.poster_key(video_id, version)
    try:
        await store.head(poster_key)
        paths.append(keys.media_path_for_key(poster_key))
    except ObjectNotFound:
        pass
    for found in await asyncio.gather(*(expand(path) for path in playlists)):
        paths.extend(found)
    return list(dict.fromkeys(paths))
