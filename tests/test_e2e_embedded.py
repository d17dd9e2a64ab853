"""End to end on embedded defaults: `vodstack serve` as a real process, upload, play back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.hls import (
    fetch_ladder,
    http_get,
    http_json,
    media_duration,
    upload_file,
    wait_for_status,
)
from tests.support.processes import VodstackProcess

pytestmark = pytest.mark.slow

FAST_ENCODE = {"VODSTACK_X264_PRESET": "ultrafast"}


@pytest.fixture
def server(start_vodstack: Callable[..., VodstackProcess], tmp_path: Path) -> VodstackProcess:
    return start_vodstack(
        "serve", "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1", "--port", "0",
        env=FAST_ENCODE, name="serve",
    )


def test_upload_to_playable_ladder(server: VodstackProcess, make_clip: Callable[..., Path]) -> None:
    clip = make_clip(duration=10, width=1280, height=720)
    status, body, headers = upload_file(server.url, clip)
    assert status == 201, body
    assert body["status"] == "queued"
    assert headers["Location"] == body["status_url"]

    video = wait_for_status(body["status_url"], {"ready", "failed"})
    assert video["status"] == "ready", video
    assert video["playback_url"] == body["playback_url"]

    ladder = fetch_ladder(video["playback_url"])
    # 720p source → 720p, 480p, 360p, 240p: no upscaling, nothing below 240p.
    heights = sorted(r.resolution[1] for r in ladder.renditions if r.resolution)
    assert heights == [240, 360, 480, 720]
    assert len(video["renditions"]) == len(ladder.renditions)

    source_duration = media_duration(clip)
    for rendition in ladder.renditions:
        assert abs(sum(rendition.segment_durations) - source_duration) <= 0.1, rendition.uri
        assert rendition.bandwidth > 0

    status, headers, poster = http_get(video["poster_url"])
    assert status == 200 and poster[:2] == b"\xff\xd8"

    # Validators and ranges on a real segment.
    segment_url, segment = next(iter(ladder.renditions[0].segment_bytes.items()))
    status, headers, _ = http_get(segment_url)
    assert "immutable" in headers["Cache-Control"]
    etag = headers["ETag"]
    status, headers, body_304 = http_get(segment_url, {"If-None-Match": etag})
    assert status == 304 and body_304 == b""
    status, headers, part = http_get(segment_url, {"Range": "bytes=100-299"})
    assert status == 206
    assert part == segment[100:300]
    assert headers["Content-Range"] == f"bytes 100-299/{len(segment)}"


def test_not_a_video_fails_with_reason_and_server_stays_healthy(
    server: VodstackProcess, tmp_path: Path
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 200)
    status, body, _ = upload_file(server.url, text)
    assert status == 201, body
    video = wait_for_status(body["status_url"], {"ready", "failed"}, timeout=60)
    assert video["status"] == "failed"
    assert video["error"] and "video" in video["error"].lower()
    assert http_json(f"{server.url}/healthz")[0] == 200
    assert http_json(f"{server.url}/readyz")[0] == 200
    assert server.alive()
