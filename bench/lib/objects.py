"""The objects the HTTP benchmarks serve, written through the store API (with metadata)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vodstack import keys, media
from vodstack.store.local import LocalStore

VIDEO_ID = "BenchBenchBench0"
SEGMENT_SIZE = 1_600_000
"""A 4 s segment at 3.2 Mbit/s: a typical 720p/1080p HLS segment."""
PLAYLIST_SIZE = 300


@dataclass(frozen=True)
class BenchObject:
    name: str
    """Short label used in tables (`segment`, `playlist`)."""
    path: str
    """URL path on an origin, an edge or the nginx peers (`/v/<id>/...`)."""
    size: int
    etag: str
    content_type: str


def media_playlist(size: int = PLAYLIST_SIZE) -> bytes:
    """A finished fMP4 media playlist, padded with a comment to exactly `size` bytes."""
    lines = [
        "#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4",
        "#EXT-X-PLAYLIST-TYPE:VOD", '#EXT-X-MAP:URI="init.mp4"',
    ]  # fmt: skip
    segment = 0
    while len("\n".join([*lines, "#EXT-X-ENDLIST", ""])) + 25 < size:
        lines += ["#EXTINF:4.000,", f"{segment}.m4s"]
        segment += 1
    text = "\n".join([*lines, "#EXT-X-ENDLIST", ""])
    padding = size - len(text) - 1
    if padding < 1:
        raise ValueError(f"a playlist cannot be as small as {size} bytes")
    return (text + "#" + "-" * (padding - 1) + "\n").encode()


Wanted = Mapping[str, tuple[str, bytes] | tuple[str, bytes, str]]
"""`{name: (path under videos/<VIDEO_ID>/, body[, Cache-Control])}`."""


async def _put(store_dir: Path, wanted: Wanted) -> list[BenchObject]:
    store = LocalStore(store_dir, fsync=False)
    await store.start()
    try:
        made = []
        for name, (relative, body, *cache_control) in wanted.items():
            key = f"{keys.video_prefix(VIDEO_ID)}{relative}"
            info = await store.put_bytes(
                key, body, content_type=media.content_type_for(key),
                cache_control=cache_control[0] if cache_control else media.cache_control_for(key),
            )  # fmt: skip
            made.append(
                BenchObject(name, keys.media_path_for_key(key), info.size, info.etag,
                            info.content_type)
            )  # fmt: skip
        return made
    finally:
        await store.close()


def put_objects(store_dir: Path, wanted: Wanted) -> list[BenchObject]:
    """Write objects into a local store, with the content type the worker would give
    them and its Cache-Control unless one is given."""
    return asyncio.run(_put(store_dir, wanted))


def put_bench_objects(store_dir: Path, segment_size: int = SEGMENT_SIZE) -> list[BenchObject]:
    """The segment and the playlist, in a local store (`DATA_DIR/store`)."""
    return put_objects(store_dir, {
        "segment": ("v1/720p/0.m4s", os.urandom(segment_size)),
        "playlist": ("v1/720p/index.m3u8", media_playlist()),
    })  # fmt: skip


def store_videos_dir(store_dir: Path) -> Path:
    """Where the local store keeps the bytes of `videos/...` (for nginx to serve)."""
    return store_dir / "data" / "videos"
