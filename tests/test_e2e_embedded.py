"""End to end with `vodstack serve` as a real process: upload, play back.

Runs once per backend (`backend` fixture): local directory + SQLite, and S3 (SeaweedFS) +
Redis, the process configured only by `VODSTACK_*` variables and flags.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.backends import BackendConfig
from tests.support.hls import (
    fetch_ladder,
    http_get,
    http_json,
    media_duration,
    upload_file,
    wait_for_status,
)
from tests.support.processes import VodstackProcess
from vodstack.store import open_store

pytestmark = pytest.mark.slow

FAST_ENCODE = {"VODSTACK_X264_PRESET": "ultrafast"}


@pytest.fixture
def server(
    start_vodstack: Callable[..., VodstackProcess], backend: BackendConfig
) -> VodstackProcess:
    return start_vodstack(
        "serve", "--host", "127.0.0.1", "--port", "0",
        env={**backend.env, **FAST_ENCODE}, name=f"serve-{backend.name}",
    )


async def _stored_keys(backend: BackendConfig, prefix: str) -> list[str]:
    """Keys under `prefix` in the store the backend names, read with vodstack's own client."""
    store = open_store(backend.settings())
    await store.start()
    try:
        return [info.key async for info in store.list(prefix)]
    finally:
        await store.close()


def test_upload_to_playable_ladder(
    server: VodstackProcess, backend: BackendConfig, make_clip: Callable[..., Path]
) -> None:
    clip = make_clip(duration=10, width=1280, height=720)
    status, body, headers = upload_file(server.url, clip)
    assert status == 201, body
    assert body["status"] == "queued"
    assert headers["Location"] == body["status_url"]

    video = wait_for_status(body["status_url"], {"ready", "failed"})
    assert video["status"] == "ready", video
    assert video["playback_url"] == body["playback_url"]

    # The outputs are in the configured store, and only there.
    stored = asyncio.run(_stored_keys(backend, f"videos/{video['id']}/"))
    assert f"videos/{video['id']}/master.m3u8" in stored
    assert any(key.endswith("/poster.jpg") for key in stored)
    data_dir = Path(backend.env["VODSTACK_DATA_DIR"])
    assert (data_dir / "store").exists() == (not backend.distributed)

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
