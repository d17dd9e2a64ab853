"""The edge's `/metrics` after real traffic: a real edge in front of real upstream servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from edge_cache import admin
from edge_cache.app import create_app
from edge_cache.proxy import EdgeProxy
from tests.support.origin import FakeClock, Origin
from tests.support.origin_server import VIDEO_ID, running_origin
from tests.support.processes import free_port
from tests.support.scrape import Scrape, scrape
from vodstack.server import bound_url
from vodstack.settings import Settings

pytestmark = pytest.mark.timeout(60)

SEGMENT = f"videos/{VIDEO_ID}/v1/720p/3.m4s"
SEGMENT_PATH = f"/v/{VIDEO_ID}/v1/720p/3.m4s"
SEGMENT_BYTES = bytes(range(256)) * 64


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield bound_url(runner, "127.0.0.1")
    finally:
        await runner.cleanup()


@dataclass
class Edge:
    url: str
    proxy: EdgeProxy
    http: aiohttp.ClientSession


@contextlib.asynccontextmanager
async def edge_in_front_of(*upstreams: str, **overrides: Any) -> AsyncIterator[Edge]:
    """A real edge app on loopback, and a client session to talk to it."""
    overrides.setdefault("health_check_interval", 0.0)
    app = create_app(Settings(upstream=upstreams, **overrides))
    async with serving(app) as url, aiohttp.ClientSession() as http:
        yield Edge(url, app[admin.PROXY], http)


async def get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, str, bytes]:
    async with http.get(url, **kwargs) as response:
        return response.status, response.headers.get("X-Cache", ""), await response.read()


async def test_one_miss_then_hits_in_front_of_a_real_origin(tmp_path: Path) -> None:
    async with running_origin(tmp_path) as origin:
        await origin.store.put_bytes(SEGMENT, SEGMENT_BYTES, content_type="video/iso.segment")
        async with edge_in_front_of(origin.url) as edge:
            results = [await get(edge.http, edge.url + SEGMENT_PATH) for _ in range(10)]
            edge_metrics = await scrape(edge.url, edge.http)
            origin_metrics = await scrape(origin.url, edge.http)

    assert [(status, body == SEGMENT_BYTES) for status, _, body in results] == [(200, True)] * 10
    assert [x_cache for _, x_cache, _ in results] == ["MISS"] + ["HIT"] * 9
    requests = "vodstack_edge_requests_total"
    assert edge_metrics.value(requests, cache="miss") == 1
    assert edge_metrics.value(requests, cache="hit") == 9
    assert edge_metrics.value(requests) == 10
    served = "vodstack_edge_served_bytes_total"
    assert edge_metrics.value(served, source="upstream") == len(SEGMENT_BYTES)
    assert edge_metrics.value(served, source="cache") == 9 * len(SEGMENT_BYTES)
    assert edge_metrics.value("vodstack_edge_cache_entries") == 1
    assert edge_metrics.value("vodstack_edge_cache_bytes") > len(SEGMENT_BYTES)
    assert edge_metrics.value("vodstack_edge_cache_evictions_total") == 0
    upstream = origin.url
    assert edge_metrics.value(
        "vodstack_edge_upstream_request_duration_seconds_count", upstream=upstream
    ) == 1
    assert edge_metrics.value("vodstack_edge_upstream_errors_total") == 0
    assert edge_metrics.value(
        "vodstack_edge_upstream_breaker_state", upstream=upstream, state="closed"
    ) == 1
    assert edge_metrics.value("vodstack_edge_upstream_breaker_state", state="open") == 0
    assert edge_metrics.value("vodstack_edge_upstream_healthy", upstream=upstream) == 1
    # The edge's own HTTP view: one route template for everything it proxies.
    assert edge_metrics.value(
        "vodstack_http_requests_total", route="/{tail}", method="GET", status="200"
    ) == 10
    # The origin saw the one miss.
    assert origin_metrics.value(
        "vodstack_http_requests_total", route="/v/{video_id}/{path}", status="200"
    ) == 1


async def test_request_id_travels_from_edge_to_origin(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vodstack.access")
    async with running_origin(tmp_path) as origin:
        await origin.store.put_bytes(SEGMENT, SEGMENT_BYTES, content_type="video/iso.segment")
        async with edge_in_front_of(origin.url) as edge:
            url = edge.url + SEGMENT_PATH
            async with edge.http.get(url, headers={"X-Request-Id": "t-1"}) as first:
                await first.read()
            async with edge.http.get(url, headers={"X-Request-Id": "t-2"}) as second:
                await second.read()
            async with edge.http.get(url, headers={"X-Request-Id": "bad id"}) as third:
                await third.read()
    assert (first.headers["X-Cache"], first.headers["X-Request-Id"]) == ("MISS", "t-1")
    # A stored answer never repeats the id of the request that filled the cache.
    assert (second.headers["X-Cache"], second.headers["X-Request-Id"]) == ("HIT", "t-2")
    assert third.headers["X-Request-Id"] not in ("bad id", "t-1", "t-2")
    origin_lines = [
        r for r in caplog.records
        if getattr(r, "route", None) == "/v/{video_id}/{path}"
    ]
    assert [getattr(r, "request_id", None) for r in origin_lines] == ["t-1"]


async def test_request_id_generated_by_the_edge_is_the_one_the_upstream_gets() -> None:
    spec = Origin()
    spec.serve("/a", b"x", headers={"Cache-Control": "no-store"})
    async with (
        serving(spec.app()) as upstream,
        edge_in_front_of(upstream) as edge,
        edge.http.get(edge.url + "/a") as response,
    ):
        await response.read()
    generated = response.headers["X-Request-Id"]
    assert spec.last("/a").headers.getall("X-Request-Id") == [generated]


async def test_collapsed_misses_are_counted() -> None:
    spec = Origin()
    spec.serve("/slow", b"s" * 1000, headers={"Cache-Control": "max-age=60"}, delay=0.5)
    async with serving(spec.app()) as upstream, edge_in_front_of(upstream) as edge:
        results = await asyncio.gather(*(get(edge.http, edge.url + "/slow") for _ in range(10)))
        metrics = await scrape(edge.url, edge.http)
    assert spec.hits["/slow"] == 1
    assert sorted(x_cache for _, x_cache, _ in results) == ["HIT"] * 9 + ["MISS"]
    assert metrics.value("vodstack_edge_collapsed_requests_total") == 9
    assert metrics.value("vodstack_edge_requests_total", cache="miss") == 1
    assert metrics.value("vodstack_edge_requests_total", cache="hit") == 9


async def test_every_cache_result_is_counted_as_the_client_saw_it() -> None:
    spec = Origin()
    spec.serve(
        "/swr", b"w" * 100, etag='"w"',
        headers={"Cache-Control": "max-age=10, stale-while-revalidate=600"},
    )
    spec.serve("/etag", b"e" * 200, headers={"Cache-Control": "max-age=10"}, etag='"v1"')
    spec.serve("/post", b"p" * 300)
    clock = FakeClock()
    seen: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    async with serving(spec.app()) as upstream, edge_in_front_of(upstream) as edge:
        edge.proxy.clock = clock
        for path in ("/swr", "/etag"):
            _, x_cache, body = await get(edge.http, edge.url + path)
            seen[x_cache] += 1
            sizes[x_cache] += len(body)
        clock.advance(30)
        for path in ("/swr", "/etag"):
            _, x_cache, body = await get(edge.http, edge.url + path)
            seen[x_cache] += 1
            sizes[x_cache] += len(body)
        async with edge.http.post(edge.url + "/post", data=b"data") as response:
            seen[response.headers["X-Cache"]] += 1
            sizes[response.headers["X-Cache"]] += len(await response.read())
        await edge.proxy.close()  # the background refresh
        metrics = await scrape(edge.url, edge.http)
    assert seen == {"MISS": 2, "STALE": 1, "REVALIDATED": 1, "BYPASS": 1}
    for x_cache, count in seen.items():
        assert metrics.value("vodstack_edge_requests_total", cache=x_cache.lower()) == count
    served = "vodstack_edge_served_bytes_total"
    assert metrics.value(served, source="cache") == sizes["STALE"] + sizes["REVALIDATED"]
    assert metrics.value(served, source="upstream") == sizes["MISS"] + sizes["BYPASS"]
    assert metrics.value("vodstack_edge_background_refreshes_total") == 1


async def test_unreachable_upstream_errors_and_open_breaker() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with edge_in_front_of(dead, breaker_threshold=2, breaker_cooldown=60.0) as edge:
        statuses = [(await get(edge.http, edge.url + f"/x{n}"))[0] for n in range(4)]
        metrics = await scrape(edge.url, edge.http)
    assert statuses[:2] == [502, 502] and statuses[2:] == [503, 503]
    assert metrics.value("vodstack_edge_upstream_errors_total", upstream=dead, kind="connect") == 2
    assert metrics.value("vodstack_edge_upstream_breaker_state", upstream=dead, state="open") == 1
    assert metrics.value("vodstack_edge_upstream_breaker_state", upstream=dead, state="closed") == 0
    assert metrics.value("vodstack_edge_requests_total", cache="error") == 4
    assert metrics.value("vodstack_edge_upstream_request_duration_seconds_count") == 0


async def test_evictions_count_only_entries_dropped_for_room() -> None:
    spec = Origin()
    for n in range(12):
        spec.serve(f"/o{n}", bytes([n]) * 4000, headers={"Cache-Control": "max-age=600"})
    async with serving(spec.app()) as upstream, edge_in_front_of(
        upstream, cache_size=20_000, max_object_fraction=0.5, purge_token="tok"
    ) as edge:
        for n in range(12):
            await get(edge.http, edge.url + f"/o{n}")
        filled = await scrape(edge.url, edge.http)
        async with edge.http.delete(
            edge.url + "/_edge/cache", params={"prefix": "/o"},
            headers={"Authorization": "Bearer tok"},
        ) as response:
            removed = (await response.json())["removed"]
        purged = await scrape(edge.url, edge.http)
    entries = filled.value("vodstack_edge_cache_entries")
    assert 0 < entries < 12
    assert filled.value("vodstack_edge_cache_evictions_total") == 12 - entries
    assert filled.value("vodstack_edge_cache_bytes") <= 20_000
    assert filled.value("vodstack_edge_cache_capacity_bytes") == 20_000
    assert removed == entries
    assert purged.value("vodstack_edge_cache_entries") == 0
    assert purged.value("vodstack_edge_cache_evictions_total") == 12 - entries
    assert purged.value("vodstack_edge_purged_entries_total") == entries


def test_every_family_is_described_once(tmp_path: Path) -> None:
    """The edge's registry accepts its collectors (no duplicate names) and parses."""
    from vodstack.metrics import Metrics

    metrics = Metrics()
    create_app(Settings(upstream=("http://127.0.0.1:9",)), metrics=metrics)
    body, _ = asyncio.run(metrics.render())
    parsed = Scrape.parse(body.decode())
    assert parsed.families["vodstack_edge_upstream_breaker_state"] == "gauge"
    assert parsed.families["vodstack_edge_requests"] == "counter"


async def test_an_unknown_expectation_is_417_counted_with_its_id() -> None:
    """Refused by the expect handler, before any middleware: still a JSON 417 (never a
    500), still counted, still answered with a request id."""
    async with edge_in_front_of("http://127.0.0.1:9") as edge:
        port = int(edge.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n"
                b"Content-Length: 3\r\nX-Request-Id: expect-1\r\n\r\n"
            )
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        finally:
            writer.close()
        metrics = await scrape(edge.url, edge.http)
    assert head.startswith("HTTP/1.1 417 ")
    assert "X-Request-Id: expect-1" in head
    assert metrics.value("vodstack_http_requests_total", method="POST", status="417") == 1
