"""Checking a published HLS video in a store: playlists parse, segments decode, keyframes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8

from vodstack import keys
from vodstack.store import ObjectStore


@dataclass(frozen=True)
class SegmentCheck:
    uri: str
    duration: float
    video_frames: int
    audio_frames: int
    first_video_frame_is_key: bool
    errors: str


@dataclass(frozen=True)
class VariantCheck:
    uri: str
    playlist: m3u8.M3U8
    stream_info: Any
    segments: list[SegmentCheck]
    width: int
    height: int
    profile: str
    level: int

    @property
    def total_duration(self) -> float:
        return sum(segment.duration for segment in self.segments)


def ffprobe_frames(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Decode every frame of a file with ffprobe: (frames, streams, stderr)."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams",
         "-show_entries", "frame=media_type,key_frame", "-show_frames", str(path)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    data = json.loads(result.stdout or b"{}")
    return data.get("frames", []), data.get("streams", []), result.stderr.decode(errors="replace")


async def check_variant(
    store: ObjectStore, video_id: str, uri: str, stream_info: Any, scratch: Path
) -> VariantCheck:
    """Fetch one variant's media playlist and decode each of its segments (init prepended)."""
    base = keys.video_prefix(video_id) + uri.rsplit("/", 1)[0] + "/"
    playlist = m3u8.loads((await store.read(keys.video_prefix(video_id) + uri)).decode())
    init = b""
    if playlist.segment_map:
        init = await store.read(base + playlist.segment_map[0].uri)
    segments = []
    width = height = level = 0
    profile = ""
    for number, segment in enumerate(playlist.segments):
        body = await store.read(base + segment.uri)
        path = scratch / f"{uri.replace('/', '_')}-{number}{Path(segment.uri).suffix or '.bin'}"
        await asyncio.to_thread(path.write_bytes, init + body)
        frames, streams, errors = await asyncio.to_thread(ffprobe_frames, path)
        video_frames = [f for f in frames if f.get("media_type") == "video"]
        segments.append(
            SegmentCheck(
                uri=segment.uri,
                duration=float(segment.duration),
                video_frames=len(video_frames),
                audio_frames=sum(1 for f in frames if f.get("media_type") == "audio"),
                first_video_frame_is_key=bool(video_frames and video_frames[0].get("key_frame")),
                errors=errors.strip(),
            )
        )
        video_stream = next(s for s in streams if s.get("codec_type") == "video")
        width, height = int(video_stream["width"]), int(video_stream["height"])
        profile, level = str(video_stream.get("profile")), int(video_stream.get("level", 0))
    return VariantCheck(
        uri=uri, playlist=playlist, stream_info=stream_info, segments=segments,
        width=width, height=height, profile=profile, level=level,
    )  # fmt: skip


async def check_published(store: ObjectStore, video_id: str, scratch: Path) -> list[VariantCheck]:
    """Every variant of the video's master playlist, checked."""
    master = m3u8.loads((await store.read(keys.master_key(video_id))).decode())
    assert master.is_variant, "the master playlist lists no variants"
    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
    return [
        await check_variant(store, video_id, variant.uri, variant.stream_info, scratch)
        for variant in master.playlists
    ]
