"""A video transcoded in chunks plays in a real browser (Chromium + hls.js) across its
joints: one audio track from the `EXT-X-MEDIA` group, audio decoded, one continuous
buffered range, no fatal error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.browser import as_json, chromium, wait_for
from tests.support.hls import upload_file, wait_for_status
from tests.support.processes import VodstackProcess
from tests.webui.test_browser import PLAYER_STATE, VIEWPORT, collect_console_errors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(280)]

MEDIA_STATE = """() => {
  const video = document.getElementById("video");
  const ranges = [];
  for (let i = 0; i < video.buffered.length; i++) {
    ranges.push([video.buffered.start(i), video.buffered.end(i)]);
  }
  return {
    currentTime: video.currentTime,
    buffered: ranges,
    audioTracks: window.player ? window.player.audioTracks.length : null,
    audioBytes: video.webkitAudioDecodedByteCount,
    videoBytes: video.webkitVideoDecodedByteCount,
  };
}"""


def test_a_chunked_video_plays_across_its_joints_with_its_audio(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    serve = start_vodstack(
        "serve", "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1", "--port", "0",
        env={"VODSTACK_X264_PRESET": "ultrafast", "VODSTACK_CHUNK_DURATION": "8"},
        name="serve-chunked",
    )  # fmt: skip
    status, body, _headers = upload_file(serve.url, make_clip(duration=24, width=640, height=360))
    assert status == 201, body
    video = wait_for_status(body["status_url"], {"ready", "failed"}, timeout=180)
    assert video["status"] == "ready", video
    assert "handed on" in serve.log_text()  # it was split

    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        errors = collect_console_errors(page)
        page.goto(f"{serve.url}/watch/{video['id']}")
        wait_for(page, "() => window.player && window.player.levels.length > 0", timeout=30,
                 what="hls.js to parse the master playlist", debug=PLAYER_STATE)  # fmt: skip
        page.evaluate('() => document.getElementById("video").play()')
        # Past two joints (8 s and 16 s).
        wait_for(page, '() => document.getElementById("video").currentTime > 17', timeout=90,
                 what="playback past 17 s", debug=MEDIA_STATE)  # fmt: skip
        state = page.evaluate(MEDIA_STATE)
        player = page.evaluate(PLAYER_STATE)
        assert player["state"]["fatalErrors"] == [], as_json(player)
        assert state["audioTracks"] == 1, as_json(state)
        assert state["audioBytes"] > 0 and state["videoBytes"] > 0, as_json(state)
        assert len(state["buffered"]) == 1, as_json(state)  # no hole at a joint
        start, end = state["buffered"][0]
        assert start < 0.2 and end > 17, as_json(state)
        assert errors == []
