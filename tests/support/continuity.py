"""Checking that a rendition plays as one continuous stream: its init segment and segments
concatenated in playlist order (what a player feeds its decoder), read back with ffprobe."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import m3u8

from vodstack import keys
from vodstack.store import ObjectStore


@dataclass(frozen=True)
class Packet:
    pts: float
    dts: float
    duration: float
    key: bool


@dataclass(frozen=True)
class StreamTimes:
    codec_type: str
    packets: list[Packet]
    """In decode order."""

    @property
    def presentation(self) -> list[float]:
        return sorted(packet.pts for packet in self.packets)

    def gaps(self, step: float, tolerance: float = 1e-3) -> list[tuple[float, float]]:
        """(time, delta) wherever consecutive presentation times are not `step` apart."""
        times = self.presentation
        return [
            (round(a, 6), round(b - a, 6))
            for a, b in itertools.pairwise(times)
            if abs((b - a) - step) > tolerance
        ]

    @property
    def end(self) -> float:
        last = max(self.packets, key=lambda packet: packet.pts)
        return last.pts + last.duration


async def concatenate(store: ObjectStore, video_id: str, playlist_uri: str, out: Path) -> Path:
    """Write the rendition at `playlist_uri` (relative to the master) as one file."""
    playlist_key = keys.video_prefix(video_id) + playlist_uri
    base = playlist_key.rsplit("/", 1)[0] + "/"
    playlist = m3u8.loads((await store.read(playlist_key)).decode())
    names = [segment.uri for segment in playlist.segments]
    if playlist.segment_map:
        names.insert(0, playlist.segment_map[0].uri)
    pieces = [await store.read(base + name) for name in names]
    await asyncio.to_thread(out.write_bytes, b"".join(pieces))
    return out


def stream_times(path: Path) -> list[StreamTimes]:
    """Every packet's timestamps, per stream, as ffprobe reads the file."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_packets",
         "-show_entries", "packet=stream_index,pts_time,dts_time,duration_time,flags"
         ":stream=index,codec_type", str(path)],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    data = json.loads(result.stdout)
    streams = {s["index"]: StreamTimes(s["codec_type"], []) for s in data["streams"]}
    for packet in data["packets"]:
        if "pts_time" not in packet:
            continue
        streams[packet["stream_index"]].packets.append(
            Packet(
                pts=float(packet["pts_time"]),
                dts=float(packet.get("dts_time", packet["pts_time"])),
                duration=float(packet.get("duration_time") or 0),
                key="K" in packet.get("flags", ""),
            )
        )
    return list(streams.values())


def decode_errors(path: Path) -> str:
    """What ffmpeg complains about while decoding the whole file ("" when nothing)."""
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    return result.stderr.decode(errors="replace").strip()
