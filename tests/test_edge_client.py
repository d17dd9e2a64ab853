"""`edge_cache.client` helpers against real edges, and `vodstack edge` as a real process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from edge_cache import client
from edge_cache.app import create_app
from edge_cache.router import pick_edge
from tests.support.origin import Origin
from vodstack.settings import Settings

pytestmark = pytest.mark.timeout(60)

TOKEN = "edge-token"
ServerFactory = Callable[..., Awaitable[TestServer]]


async def _edges(aiohttp_server: ServerFactory, origin: TestServer, count: int) -> list[TestServer]:
    settings = Settings(
        upstream=(str(origin.make_url("/")).rstrip("/"),),
        purge_token=TOKEN,
        health_check_interval=0.0,
    )
    return [await aiohttp_server(create_app(settings)) for _ in range(count)]


async def _x_cache(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        await response.read()
        return response.headers["X-Cache"]


async def test_purge_reaches_every_edge_and_reports_failures(
    aiohttp_server: ServerFactory,
) -> None:
    spec = Origin()
    spec.serve("/v/a/master.m3u8", b"m", headers={"Cache-Control": "max-age=600"})
    origin = await aiohttp_server(spec.app())
    edges = await _edges(aiohttp_server, origin, 2)
    urls = [str(edge.make_url("")).rstrip("/") for edge in edges]
    async with aiohttp.ClientSession() as session:
        for url in urls:
            await _x_cache(session, url + "/v/a/master.m3u8")
        results = await client.purge([*urls, "http://127.0.0.1:9"], "/v/a/", TOKEN)
        assert [result.ok for result in results] == [True, True, False]
        assert results[0].detail == {"removed": 1}
        for url in urls:
            assert await _x_cache(session, url + "/v/a/master.m3u8") == "MISS"
        wrong = await client.purge(urls[:1], "/v/a/", "not-the-token")
        assert not wrong[0].ok and "403" in str(wrong[0].detail)


async def test_warm_sends_each_path_to_its_owning_edge(aiohttp_server: ServerFactory) -> None:
    spec = Origin()
    paths = [f"/v/b/720p/{n}.m4s" for n in range(12)]
    for path in paths:
        spec.serve(path, b"seg", headers={"Cache-Control": "max-age=600"})
    origin = await aiohttp_server(spec.app())
    edges = await _edges(aiohttp_server, origin, 3)
    urls = [str(edge.make_url("")).rstrip("/") for edge in edges]
    results = await client.warm(urls, paths, budget=1_000_000, token=TOKEN)
    assert all(result.ok for result in results)
    for _ in range(100):
        if sum(spec.hits.values()) == len(paths):
            break
        await asyncio.sleep(0.05)
    assert all(spec.hits[path] == 1 for path in paths)  # each warmed once, by one edge
    async with aiohttp.ClientSession() as session:
        for path in paths:
            assert await _x_cache(session, pick_edge(path, urls) + path) == "HIT"


@pytest.mark.slow
async def test_vodstack_edge_command_serves_from_cache(
    aiohttp_server: ServerFactory, start_vodstack: Any
) -> None:
    spec = Origin()
    spec.serve("/v/c/master.m3u8", b"#EXTM3U\n", headers={"Cache-Control": "max-age=60"})
    origin = await aiohttp_server(spec.app())
    upstream = str(origin.make_url("")).rstrip("/")
    edge = await asyncio.to_thread(
        start_vodstack, "edge", "--upstream", upstream, "--port", "0", "--cache-size", "64MiB"
    )
    async with aiohttp.ClientSession() as session:
        assert await _x_cache(session, edge.url + "/v/c/master.m3u8") == "MISS"
        assert await _x_cache(session, edge.url + "/v/c/master.m3u8") == "HIT"
        async with session.get(edge.url + "/readyz") as response:
            assert response.status == 200
    assert spec.hits["/v/c/master.m3u8"] == 1


def test_vodstack_edge_without_upstream_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from vodstack.cli import main

    assert main(["edge"]) == 2
    assert "--upstream" in capsys.readouterr().err
