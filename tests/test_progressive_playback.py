"""Real players on a video still being transcoded, through `vodstack serve`'s edge.

An upload is followed through the status API until it is `playable` while still
`processing`; a player starts at that moment and must play it to the end without an
error: ffmpeg's HLS demuxer (it reloads playlists without an end tag until the end tag
comes) and hls.js in headless Chromium on the watch page (no fatal error, no stall).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import m3u8
import pytest

from tests.support.browser import chromium, wait_for
from tests.support.hls import fetch_ladder, http_get, http_json, upload_file
from tests.support.processes import VodstackProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FAST_ENCODE = {"VODSTACK_X264_PRESET": "ultrafast"}
DURATION = 20.0


def serve(start_vodstack: Callable[..., VodstackProcess], tmp_path: Path) -> VodstackProcess:
    return start_vodstack(
        "serve", "--data-dir", str(tmp_path / "data"), "--port", "0", env=FAST_ENCODE,
        name="serve",
    )  # fmt: skip


def wait_until_playable(status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        status, video = http_json(status_url)
        assert status == 200, video
        assert video["status"] != "failed", video
        if video["playable"]:
            return dict(video)
        assert time.monotonic() < deadline, f"never playable: {video}"
        time.sleep(0.05)


def wait_until_ready(status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        _status, video = http_json(status_url)
        if video["status"] in {"ready", "failed"}:
            return dict(video)
        assert time.monotonic() < deadline, f"never ready: {video}"
        time.sleep(0.1)


def first_media_playlist(master_url: str) -> m3u8.M3U8:
    status, _headers, body = http_get(master_url)
    assert status == 200, status
    master = m3u8.loads(body.decode())
    media_url = urljoin(master_url, master.playlists[-1].uri)
    status, _headers, body = http_get(media_url)
    assert status == 200, (media_url, status)
    return m3u8.loads(body.decode())


def test_ffmpeg_plays_a_growing_video_to_its_end(
    start_vodstack: Callable[..., VodstackProcess],
    tmp_path: Path,
    make_clip: Callable[..., Path],
) -> None:
    server = serve(start_vodstack, tmp_path)
    clip = make_clip(duration=DURATION, width=1280, height=720)
    status, created, _headers = upload_file(server.url, clip)
    assert status == 201, created
    video = wait_until_playable(created["status_url"])
    assert video["status"] == "processing", "the transcode ended before the test could play"
    assert video["playback_url"] == created["playback_url"]
    growing = first_media_playlist(video["playback_url"])
    assert growing.playlist_type == "event" and not growing.is_endlist

    # -prefer_x_start: start where EXT-X-START says (the beginning), not at the live edge.
    player = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-prefer_x_start", "1",
         "-i", video["playback_url"], "-f", "null", "-progress", "pipe:1", "-"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert player.returncode == 0, player.stderr
    assert player.stderr.strip() == "", player.stderr
    positions = [
        int(line.split("=", 1)[1]) / 1e6
        for line in player.stdout.splitlines()
        if line.startswith("out_time_us=") and line.split("=", 1)[1].isdigit()
    ]
    assert max(positions) == pytest.approx(DURATION, abs=0.2)

    ready = wait_until_ready(created["status_url"])
    assert ready["status"] == "ready" and ready["playable"] is True
    assert ready["playable_at"] <= ready["updated_at"]
    finished = first_media_playlist(ready["playback_url"])
    assert finished.playlist_type == "vod" and finished.is_endlist
    fetch_ladder(ready["playback_url"])


def test_the_watch_page_plays_a_video_while_it_is_transcoded(
    start_vodstack: Callable[..., VodstackProcess],
    tmp_path: Path,
    make_clip: Callable[..., Path],
) -> None:
    server = serve(start_vodstack, tmp_path)
    clip = make_clip(duration=DURATION, width=1280, height=720)
    with chromium() as browser:
        page = browser.new_page()
        status, created, _headers = upload_file(server.url, clip)
        assert status == 201, created
        page.goto(f"{server.url}/watch/{created['id']}")
        wait_for(
            page,
            "() => window.player && window.player.levels.length > 0",
            timeout=120,
            what="hls.js to load the master playlist",
            debug="() => window.playerState",
        )
        page.evaluate('() => document.getElementById("video").play()')
        state = wait_for(
            page,
            """() => { const video = document.getElementById("video");
                       const state = window.playerState;
                       return (video.ended || state.fatalErrors.length)
                              && { ...state, position: video.currentTime }; }""",
            timeout=DURATION * 4 + 60,
            what="the video to play to its end",
            debug="() => window.playerState",
        )
    assert state["startedAs"] == "processing", "it should start before the transcode ends"
    assert state["fatalErrors"] == []
    # Stalls are allowed: on a busy machine the encoder can fall behind the player, which
    # then waits for the next segment (bench/time_to_playable.py counts them).
    assert state["position"] == pytest.approx(DURATION, abs=0.2)
    ready = wait_until_ready(created["status_url"])
    assert ready["status"] == "ready"
