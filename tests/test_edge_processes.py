"""`vodstack edge --processes 2` as real processes in front of a real upstream server.

The kernel spreads new connections over the workers (SO_REUSEPORT), so each check makes
many fresh connections and reads which worker answered from `/_edge/stats` ("workers").
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support.origin import Origin
from tests.support.processes import VodstackProcess
from tests.support.scrape import Scrape

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOKEN = "purge-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MiB = 1024 * 1024
ServerFactory = Callable[..., Awaitable[TestServer]]


async def fresh_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str],
                                                                             bytes]:  # fmt: skip
    """One request on a new connection (so it may land on any worker)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(
        url, headers=headers, timeout=aiohttp.ClientTimeout(total=20)
    ) as response:
        return response.status, dict(response.headers), await response.read()


async def stats(edge: VodstackProcess) -> dict[str, Any]:
    status, _headers, body = await fresh_get(edge.url + "/_edge/stats", AUTH)
    assert status == 200, body
    import json

    data: dict[str, Any] = json.loads(body)
    return data


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def upstream(aiohttp_server: ServerFactory) -> tuple[Origin, TestServer]:
    spec = Origin()
    for name in ("a", "b", "c"):
        spec.serve(f"/v/{name}.m3u8", f"#EXTM3U {name}\n".encode(), headers={
            "Cache-Control": "public, max-age=600",
            "Content-Type": "application/vnd.apple.mpegurl",
        })  # fmt: skip

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return web.Response(body=b"slow answer", headers={"Cache-Control": "no-store"})

    spec.routes["/slow"] = slow
    return spec, await aiohttp_server(spec.app())


async def start_edge(server: TestServer, tmp_path: Path, cache_size: str) -> VodstackProcess:
    """`vodstack edge --processes 2` in front of `server`."""
    return await asyncio.to_thread(
        VodstackProcess,
        ["edge", "--upstream", str(server.make_url("")).rstrip("/"), "--port", "0",
         "--processes", "2", "--cache-size", cache_size, "--purge-token", TOKEN,
         "--health-check-interval", "0"],
        log_path=tmp_path / "edge.log",
    )  # fmt: skip


@pytest.fixture
async def edge(upstream: Any, tmp_path: Path) -> AsyncIterator[VodstackProcess]:
    _spec, server = upstream
    process = await start_edge(server, tmp_path, "256MiB")
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


async def test_every_process_serves_hits_of_one_fetch(upstream: Any, edge: VodstackProcess) -> None:
    spec, _server = upstream
    status, headers, _body = await fresh_get(edge.url + "/v/a.m3u8")
    assert status == 200 and headers["X-Cache"] == "MISS"

    async def copied() -> bool:
        return (await stats(edge))["cache"]["entries"] == 2  # one copy in each process

    await until(copied)
    answers = [await fresh_get(edge.url + "/v/a.m3u8") for _ in range(24)]
    assert {headers["X-Cache"] for _status, headers, _body in answers} == {"HIT"}
    assert all(body == b"#EXTM3U a\n" for _status, _headers, body in answers)
    assert spec.hits["/v/a.m3u8"] == 1  # fetched once for the whole edge
    report = await stats(edge)
    assert report["processes"] == 2 and report["counters"]["hit"] == 24
    workers = report["workers"]
    assert len(workers) == 2 and all(worker["hits"] > 0 for worker in workers), workers
    # cache_size for the whole edge, less the runtimes of the supervisor and the second worker
    capacities = [worker["capacity"] for worker in workers]
    assert report["cache"]["capacity"] == sum(capacities)
    assert 56 * MiB <= min(capacities) <= max(capacities) <= 128 * MiB
    assert "caches" in edge.log_text() and "less" in edge.log_text()


async def test_a_cache_too_small_for_the_runtimes_is_squeezed_and_says_so(
    upstream: Any, tmp_path: Path
) -> None:
    _spec, server = upstream
    process = await start_edge(server, tmp_path, "16MiB")
    try:
        report = await stats(process)
        assert [worker["capacity"] for worker in report["workers"]] == [2 * MiB, 2 * MiB]
        status, headers, _body = await fresh_get(process.url + "/v/a.m3u8")
        assert status == 200 and headers["X-Cache"] == "MISS"
    finally:
        await asyncio.to_thread(process.stop)
    assert "--processes 1 or a larger --cache-size" in process.log_text()


async def test_a_purge_through_one_process_empties_all(
    upstream: Any, edge: VodstackProcess
) -> None:
    spec, _server = upstream
    for name in ("a", "b"):
        await fresh_get(f"{edge.url}/v/{name}.m3u8")

    async def copied() -> bool:
        return (await stats(edge))["cache"]["entries"] == 4

    await until(copied)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session, session.delete(
        edge.url + "/_edge/cache", params={"path": "/v/a.m3u8"}, headers=AUTH
    ) as response:
        assert response.status == 200
        assert await response.json() == {"removed": 2}  # one copy in each process
    assert (await stats(edge))["cache"]["entries"] == 2  # /v/b.m3u8 in both
    answers = [await fresh_get(edge.url + "/v/a.m3u8") for _ in range(8)]
    assert answers[0][1]["X-Cache"] == "MISS"
    assert spec.hits["/v/a.m3u8"] in (2, 3)  # refetched once (twice if both missed at once)


async def test_metrics_cover_every_process(upstream: Any, edge: VodstackProcess) -> None:
    await fresh_get(edge.url + "/v/c.m3u8")

    async def copied() -> bool:
        return (await stats(edge))["cache"]["entries"] == 2

    await until(copied)
    for _ in range(12):
        await fresh_get(edge.url + "/v/c.m3u8")
    hits = sum(w["hits"] for w in (await stats(edge))["workers"])
    _status, _headers, body = await fresh_get(edge.url + "/metrics")
    metrics = Scrape.parse(body.decode())
    assert metrics.value("vodstack_edge_requests_total", cache="hit") == hits == 12
    assert metrics.value("vodstack_edge_requests_total", cache="miss") == 1
    assert metrics.value("vodstack_edge_cache_entries") == 2
    capacity = (await stats(edge))["cache"]["capacity"]
    assert metrics.value("vodstack_edge_cache_capacity_bytes") == capacity
    requests = metrics.value(
        "vodstack_http_requests_total", route="/{tail}", method="GET", status="200"
    )
    assert requests == 13
    assert metrics.value("process_resident_memory_bytes") > 0


async def test_a_killed_worker_is_replaced(upstream: Any, edge: VodstackProcess) -> None:
    before = {w["pid"] for w in (await stats(edge))["workers"]}
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    async def replaced() -> bool:
        try:
            pids = {w["pid"] for w in (await stats(edge))["workers"]}
        except (aiohttp.ClientError, AssertionError):
            return False
        return len(pids) == 2 and victim not in pids

    await until(replaced, within=30)
    for _ in range(6):
        status, _headers, _body = await fresh_get(edge.url + "/v/b.m3u8")
        assert status == 200
    assert edge.alive()
    assert "exited with -9" in edge.log_text()


async def test_sigterm_lets_running_requests_finish(upstream: Any, edge: VodstackProcess) -> None:
    workers = {w["pid"] for w in (await stats(edge))["workers"]}
    running = asyncio.create_task(fresh_get(edge.url + "/slow"))
    await asyncio.sleep(0.5)  # the request is waiting on the upstream
    edge.signal(signal.SIGTERM)
    status, _headers, body = await running
    assert status == 200 and body == b"slow answer"
    code = await asyncio.to_thread(edge.proc.wait, 30)
    assert code == 0
    for pid in workers:  # the workers are gone too
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
