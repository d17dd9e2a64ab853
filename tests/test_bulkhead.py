"""Bulkheads: a flood of uploads and busy transcodes never stop playback.

One `vodstack serve` (upload API, worker and origin in one process, as most people run
it) with a published video; an edge in front. Twelve uploads arrive at once and the worker
transcodes them one after another while a player keeps fetching the published video's
playlists and segments from the origin and through the edge. Every request must succeed,
and quickly: ffmpeg runs as a niced subprocess, and probing, measuring and publishing are
off the event loop.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.support.hls import fetch_ladder, upload_file, wait_for_status
from tests.support.processes import VodstackProcess
from tests.support.report import write_section

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

UPLOADS = 12
PLAY_SECONDS = 12.0


async def play(
    http: aiohttp.ClientSession, base: str, paths: list[str], until: float
) -> list[float]:
    """Fetch `paths` round and round until `until`; the latency of each whole response."""
    latencies = []
    while time.monotonic() < until:
        for path in paths:
            started = time.monotonic()
            async with http.get(base + path) as response:
                await response.read()
                assert response.status == 200, (path, response.status)
            latencies.append(time.monotonic() - started)
    return latencies


def percentile(latencies: list[float], share: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = percentile(ordered, 0.99)
    return (
        f"{len(ordered)} requests, median {statistics.median(ordered) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )


async def test_playback_goes_on_while_uploads_flood_in_and_the_worker_is_busy(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    serve = start_vodstack("serve", "--data-dir", str(tmp_path / "data"), "--port", "0")
    status, created, _ = await asyncio.to_thread(
        upload_file, serve.url, make_clip(duration=8, width=640, height=360)
    )
    assert status == 201
    ready = await asyncio.to_thread(wait_for_status, created["status_url"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    ladder = await asyncio.to_thread(fetch_ladder, ready["playback_url"])
    paths = [ready["playback_url"].removeprefix(serve.url)] + [
        uri.removeprefix(serve.url)
        for rendition in ladder.renditions
        for uri in [rendition.uri, *rendition.segment_bytes]
    ]
    edge = start_vodstack("edge", "--port", "0", "--upstream", serve.url, name="edge")

    flood_clip = make_clip(duration=20, width=1280, height=720)
    uploads = [
        asyncio.to_thread(upload_file, serve.url, flood_clip) for _ in range(UPLOADS)
    ]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        until = time.monotonic() + PLAY_SECONDS
        results = await asyncio.gather(
            play(http, serve.url, paths, until),
            play(http, edge.url, paths, until),
            *uploads,
        )
        direct, through_edge, answers = results[0], results[1], results[2:]
        assert all(answer[0] == 201 for answer in answers), answers
        async with http.get(serve.url + "/v1/videos?status=processing") as response:
            busy = (await response.json())["videos"]
        assert busy, "the worker was not transcoding during the test"
    # Generous bounds: the test machine is shared; the figures land in docs/RELIABILITY.md.
    for latencies in (direct, through_edge):
        assert percentile(latencies, 0.99) < 1.0, summary(latencies)
        assert max(latencies) < 5.0, summary(latencies)
    figures = (
        f"- origin (`vodstack serve`, while transcoding and receiving {UPLOADS} uploads of "
        f"a 20 s 720p clip): {summary(direct)}\n"
        f"- through `vodstack edge` in front of it: {summary(through_edge)}"
    )
    write_section("bulkhead", figures)
    assert await asyncio.to_thread(edge.stop) == 0
    assert await asyncio.to_thread(serve.stop) == 0
