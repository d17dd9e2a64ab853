"""`vodstack loadtest` as a real process against a real `vodstack serve` holding one clip.

The players' report is checked against what the server side saw: a counting proxy in
front of `serve`, and the real `vodstack edge` (every answer labelled HIT or MISS).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.counting_proxy import counting_proxy
from tests.support.hls import upload_file, wait_for_status
from tests.support.processes import REPO_ROOT, VodstackProcess

pytestmark = pytest.mark.slow

PLAYERS = 5
SECONDS = 5
LOADTEST_TIMEOUT = 60


@pytest.fixture(scope="module")
def served_video(
    tmp_path_factory: pytest.TempPathFactory, make_clip: Callable[..., Path]
) -> Iterator[tuple[VodstackProcess, str]]:
    """`vodstack serve` with one ready 8 s clip in 2 s segments (two renditions)."""
    clip = make_clip(duration=8, width=640, height=360)
    directory = tmp_path_factory.mktemp("loadtest-serve")
    server = VodstackProcess(
        ["serve", "--data-dir", str(directory / "data"), "--port", "0"],
        log_path=directory / "serve.log",
        env={"VODSTACK_X264_PRESET": "ultrafast", "VODSTACK_SEGMENT_DURATION": "2"},
    )
    try:
        status, body, _ = upload_file(server.url, clip)
        assert status == 201, body
        video = wait_for_status(body["status_url"], {"ready", "failed"})
        assert video["status"] == "ready", video
        yield server, video["id"]
    finally:
        server.stop()


async def loadtest(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vodstack", "loadtest", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), LOADTEST_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def requests_of(report: dict[str, Any], kind: str) -> int:
    return int(report["by_type"][kind]["requests"])


async def test_report_matches_what_the_server_saw_and_nothing_stalls(
    served_video: tuple[VodstackProcess, str],
) -> None:
    server, video_id = served_video
    async with counting_proxy(server.url) as (url, seen):
        code, out, err = await loadtest(
            f"{url}/v/{video_id}/master.m3u8", "--players", str(PLAYERS),
            "--duration", str(SECONDS), "--bandwidth", "20M", "--seed", "1", "--json",
        )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["requests"] == seen.requests > 0
    assert requests_of(report, "master") == seen.ending_with("/master.m3u8")
    assert requests_of(report, "media") == seen.ending_with("/index.m3u8")
    assert requests_of(report, "init") == seen.ending_with("/init.mp4")
    assert requests_of(report, "segment") == seen.ending_with(".m4s")
    assert report["bytes"] == seen.body_bytes
    assert report["statuses"] == {"200": seen.statuses[200]}
    assert report["errors"] == 0
    # Every player started playing, each fetched at least its first two segments (4 s of
    # an 8 s video in 5 s at 20 Mbit/s), and on loopback nobody ran out of buffer.
    playback = report["playback"]
    assert playback["started"] == PLAYERS == playback["sessions"]
    assert requests_of(report, "segment") >= 2 * PLAYERS
    assert playback["stalls"] == 0 and playback["stall_seconds"] == 0
    assert report["config"]["players"] == PLAYERS
    assert SECONDS <= report["elapsed"] < SECONDS + 5


async def test_through_the_edge_from_the_api_listing(
    served_video: tuple[VodstackProcess, str], tmp_path: Path
) -> None:
    """Given only the edge's base URL: the ready video is found through the edge's
    /v1/videos and played through the edge; X-Cache labels every answer."""
    server, _video_id = served_video
    edge = VodstackProcess(
        ["edge", "--upstream", server.url, "--port", "0", "--cache-size", "64MiB"],
        log_path=tmp_path / "edge.log",
    )
    try:
        code, out, err = await loadtest(
            edge.url, "--players", str(PLAYERS), "--duration", "4", "--speed", "2",
            "--bandwidth", "20M", "--json",
        )  # fmt: skip
    finally:
        edge.stop()
    assert code == 0, err
    report = json.loads(out)
    assert report["config"]["videos"] == 1
    assert report["errors"] == 0 and report["requests"] > 0
    cache = report["cache"]
    assert cache["labelled"] == report["requests"]
    # Five players fetch the same objects: at most one miss each (misses for one object
    # are collapsed into one upstream fetch), and most answers come from the cache.
    assert cache["states"].get("HIT", 0) >= report["requests"] / 2
    assert report["playback"]["stalls"] == 0
