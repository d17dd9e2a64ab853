"""The object store goes away during playback: the origin answers 503 + Retry-After within
its timeout (then at once, its circuit breaker open), an edge in front keeps serving what
it cached, and everything serves again when the store comes back, with no restart.

Real processes: SeaweedFS (S3) of this test's own, `vodstack origin`, `vodstack edge`.
Two outages: the store frozen (SIGSTOP: connections hang, the worst case for timeouts)
and the store stopped (connections refused), then restarted on the same port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.support.backends import distributed_backend
from tests.support.hls import fetch_ladder
from tests.support.processes import VodstackProcess
from tests.support.publish import publish_clip
from tests.support.redis_server import RedisServer
from tests.support.report import write_section
from tests.support.seaweed import SeaweedServer
from vodstack import keys
from vodstack.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STORE_TIMEOUT = 1.0
THRESHOLD = 3
COOLDOWN = 2.0


async def timed_get(
    http: aiohttp.ClientSession, url: str
) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    async with http.get(url) as response:
        body = await response.read()
        return response.status, dict(response.headers), body, time.monotonic() - started


async def until_status(
    http: aiohttp.ClientSession, url: str, wanted: int, within: float
) -> float:
    """Seconds until `url` answers `wanted`."""
    started = time.monotonic()
    while True:
        status, _headers, _body, _took = await timed_get(http, url)
        if status == wanted:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"{url} still {status}"
        await asyncio.sleep(0.2)


async def test_store_outage_during_playback(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    s3 = SeaweedServer(tmp_path / "s3").start()
    frozen = False
    try:
        backend = distributed_backend(tmp_path / "backend", s3, redis_server)
        settings = backend.settings(x264_preset="ultrafast", top_rung=360)
        video = await publish_clip(settings, make_clip(duration=8, width=480, height=270))
        # A master that goes stale at the edge after a second, so that the outage tests
        # stale-if-error and not only fresh hits (segments are fresh for a year anyway).
        store = open_store(settings)
        await store.start()
        master_key = keys.master_key(video.id)
        await store.put_bytes(
            master_key, await store.read(master_key),
            content_type="application/vnd.apple.mpegurl",
            cache_control="public, max-age=1, stale-if-error=86400",
        )  # fmt: skip
        await store.close()

        env = {
            **backend.env,
            "VODSTACK_STORE_TIMEOUT": str(STORE_TIMEOUT),
            "VODSTACK_STORE_BREAKER_THRESHOLD": str(THRESHOLD),
            "VODSTACK_STORE_BREAKER_COOLDOWN": str(COOLDOWN),
        }
        common = ("--host", "127.0.0.1", "--port", "0")
        origin = start_vodstack("origin", *common, env=env, name="origin")
        edge = start_vodstack(
            "edge", *common, "--upstream", origin.url, "--breaker-cooldown", "2",
            "--health-check-interval", "1", name="edge",
        )  # fmt: skip
        master = f"/v/{video.id}/master.m3u8"
        ladder = await asyncio.to_thread(fetch_ladder, edge.url + master)  # fills the edge
        cached = {
            uri.removeprefix(edge.url): data
            for rendition in ladder.renditions
            for uri, data in rendition.segment_bytes.items()
        }
        segments = list(cached)
        await asyncio.sleep(1.5)  # the master is stale at the edge now

        figures: list[str] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            # -- outage 1: the store hangs ----------------------------------------------
            os.killpg(s3.proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
            frozen = True
            waits = []
            for _ in range(THRESHOLD):
                status, headers, body, took = await timed_get(http, origin.url + master)
                assert status == 503 and int(headers["Retry-After"]) >= 1, body
                assert b'"store_unavailable"' in body
                waits.append(took)
            assert max(waits) < STORE_TIMEOUT + 1.5, waits
            status, headers, _body, open_took = await timed_get(
                http, origin.url + segments[0]
            )
            assert status == 503 and open_took < 0.5, open_took  # breaker open: at once
            assert 1 <= int(headers["Retry-After"]) <= COOLDOWN + 1
            figures.append(
                f"| store frozen (SIGSTOP) | first {THRESHOLD} requests: 503 after "
                f"{min(waits):.2f} to {max(waits):.2f} s (store_timeout {STORE_TIMEOUT:g} s) "
                f"| then 503 in {open_took * 1000:.0f} ms (breaker open) |"
            )
            await assert_edge_serves(http, edge.url, master, cached)

            os.killpg(s3.proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
            frozen = False
            back_in = await until_status(http, origin.url + master, 200, within=30)
            figures.append(
                f"| store thawed (SIGCONT) | origin serves again after {back_in:.1f} s "
                f"(breaker cooldown {COOLDOWN:g} s), no restart | |"
            )

            # -- outage 2: the store is down (connections refused) ---------------------
            await asyncio.to_thread(s3.stop)
            waits = []
            for _ in range(THRESHOLD + 2):
                status, headers, _body, took = await timed_get(http, origin.url + master)
                assert status == 503 and int(headers["Retry-After"]) >= 1
                waits.append(took)
            assert max(waits) < STORE_TIMEOUT + 1.5, waits
            before, after = waits[:THRESHOLD], waits[THRESHOLD:]
            figures.append(
                f"| store stopped (refused) | first {THRESHOLD} requests: 503 after "
                f"{min(before):.2f} to {max(before):.2f} s | then 503 in "
                f"{max(after) * 1000:.0f} ms (breaker open) |"
            )
            await assert_edge_serves(http, edge.url, master, cached)

            restarted = time.monotonic()
            await asyncio.to_thread(s3.start)  # same ports, same data
            start_took = time.monotonic() - restarted
            back_in = await until_status(http, origin.url + master, 200, within=30)
            figures.append(
                f"| store restarted (same port) | origin serves again {back_in:.1f} s after "
                f"the store came back ({start_took:.1f} s to restart it), no restart of "
                "vodstack | |"
            )
            for path in [master, *segments]:
                status, _headers, _body, _took = await timed_get(http, origin.url + path)
                assert status == 200, path
            # The edge goes back to its upstream: the stale master is replaced.
            deadline = time.monotonic() + 30
            while True:
                status, headers, _body, _took = await timed_get(http, edge.url + master)
                if status == 200 and headers.get("X-Cache") != "STALE":
                    break
                assert time.monotonic() < deadline, headers
                await asyncio.sleep(0.3)
        for process in (edge, origin):
            assert await asyncio.to_thread(process.stop) == 0
        header = "| fault | origin's answer | with the breaker open |\n|---|---|---|\n"
        write_section("outage", header + "\n".join(figures))
    finally:
        if frozen and s3.proc is not None:
            os.killpg(s3.proc.pid, signal.SIGCONT)
        s3.stop()


async def assert_edge_serves(
    http: aiohttp.ClientSession, edge: str, master: str, cached: dict[str, bytes]
) -> None:
    """Cached segments as hits, the stale master under stale-if-error: playback goes on."""
    status, headers, _body, took = await timed_get(http, edge + master)
    assert status == 200 and headers["X-Cache"] == "STALE", headers
    assert took < STORE_TIMEOUT + 2
    for path, data in cached.items():
        status, headers, body, _took = await timed_get(http, edge + path)
        assert status == 200 and headers["X-Cache"] == "HIT", (path, headers)
        assert body == data
