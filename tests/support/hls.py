"""Checking a published HLS ladder from the outside, the way a player would see it."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import m3u8
from multidict import CIMultiDict


def http_get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, CIMultiDict[str], bytes]:
    """(status, header fields by case-insensitive name, body): proxies such as the edge
    may relay `ETag` as `Etag` (RFC 9110 §5.1: names are case-insensitive)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, CIMultiDict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, CIMultiDict(exc.headers.items()), exc.read()


def http_json(url: str, method: str = "GET", timeout: float = 30) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            return response.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body else None


def upload_file(
    base_url: str, path: Path, *, headers: dict[str, str] | None = None
) -> tuple[int, Any, CIMultiDict[str]]:
    """POST the file as a raw body (streamed from disk by urllib)."""
    with open(path, "rb") as body:
        request = urllib.request.Request(
            f"{base_url}/v1/videos?filename={path.name}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/octet-stream",
                     "Content-Length": str(path.stat().st_size), **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return (
                    response.status, json.loads(response.read()),
                    CIMultiDict(response.headers.items()),
                )
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null"), CIMultiDict(exc.headers.items())


def wait_for_status(status_url: str, wanted: set[str], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        code, last = http_json(status_url)
        if code == 200 and last["status"] in wanted:
            return dict(last)
        time.sleep(0.3)
    raise AssertionError(f"{status_url} never reached {wanted}; last answer: {last}")


def probe_json(path: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return dict(json.loads(result.stdout))


def media_duration(path: Path) -> float:
    return float(probe_json(path, "-show_entries", "format=duration")["format"]["duration"])


@dataclass
class RenditionCheck:
    uri: str
    resolution: tuple[int, int] | None
    bandwidth: int
    segment_durations: list[float] = field(default_factory=list)
    segment_bytes: dict[str, bytes] = field(default_factory=dict)


@dataclass
class LadderCheck:
    master_url: str
    master: m3u8.M3U8
    renditions: list[RenditionCheck]


def fetch_ladder(master_url: str) -> LadderCheck:
    """Fetch the master, every media playlist and every segment; assert each parses/decodes."""
    status, _headers, body = http_get(master_url)
    assert status == 200, (status, body[:200])
    master = m3u8.loads(body.decode(), uri=master_url)
    assert master.is_variant, "master playlist has no variants"
    renditions: list[RenditionCheck] = []
    for playlist in master.playlists:
        info = playlist.stream_info
        check = RenditionCheck(
            uri=urljoin(master_url, playlist.uri),
            resolution=tuple(info.resolution) if info.resolution else None,  # type: ignore[arg-type]
            bandwidth=info.bandwidth,
        )
        status, _headers, body = http_get(check.uri)
        assert status == 200, (check.uri, status)
        media = m3u8.loads(body.decode(), uri=check.uri)
        assert media.is_endlist, f"{check.uri} lacks EXT-X-ENDLIST"
        init_bytes = b""
        if media.segment_map:
            init_uri = urljoin(check.uri, media.segment_map[0].uri)
            status, _headers, init_bytes = http_get(init_uri)
            assert status == 200, (init_uri, status)
        with tempfile.TemporaryDirectory() as tmp:
            for index, segment in enumerate(media.segments):
                uri = urljoin(check.uri, segment.uri)
                status, _headers, data = http_get(uri)
                assert status == 200, (uri, status)
                check.segment_durations.append(float(segment.duration))
                check.segment_bytes[uri] = data
                piece = Path(tmp) / f"{index}{Path(segment.uri).suffix or '.ts'}"
                piece.write_bytes(init_bytes + data)
                assert_segment_starts_with_keyframe(piece)
        renditions.append(check)
    return LadderCheck(master_url=master_url, master=master, renditions=renditions)


def assert_segment_starts_with_keyframe(path: Path) -> None:
    """The segment decodes and its first video frame is a keyframe."""
    frames = probe_json(
        path, "-select_streams", "v:0", "-show_entries", "frame=key_frame,pict_type",
        "-read_intervals", "%+#3",
    ).get("frames", [])
    assert frames, f"{path.name}: no decodable video frame"
    assert frames[0]["key_frame"] == 1, f"{path.name}: first frame is not a keyframe: {frames[0]}"
