"""`EdgeFleet`: purge and warm on local and remote edges, never raising, never holding long;
and a purge that lands while a fetch is in flight keeps that answer out of the cache."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge_cache import admin
from edge_cache.app import create_app
from edge_cache.fleet import EdgeFleet, LocalEdge
from edge_cache.router import pick_edge
from edge_cache.store import REMOVAL_HISTORY, ResponseStore
from tests.support.origin import Origin
from tests.support.processes import free_port
from vodstack.settings import Settings

pytestmark = pytest.mark.timeout(60)

TOKEN = "fleet-token"
ServerFactory = Callable[..., Awaitable[TestServer]]
SEGMENTS = [f"/v/vid/v1/360p/{n}.m4s" for n in range(6)]


def _url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def _edges(aiohttp_server: ServerFactory, origin: TestServer, count: int) -> list[TestServer]:
    settings = Settings(upstream=(_url(origin),), purge_token=TOKEN, health_check_interval=0.0)
    return [await aiohttp_server(create_app(settings)) for _ in range(count)]


async def _x_cache(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        await response.read()
        return response.headers["X-Cache"]


def _local(edge: TestServer) -> LocalEdge:
    return LocalEdge(edge.app[admin.PROXY], edge.app[admin.WARMER])


@pytest.fixture
async def origin(aiohttp_server: ServerFactory) -> tuple[Origin, TestServer]:
    spec = Origin()
    for path in [*SEGMENTS, "/v/other/master.m3u8"]:
        spec.serve(path, b"seg " + path.encode(), headers={"Cache-Control": "max-age=600"})
    return spec, await aiohttp_server(spec.app())


async def test_purge_empties_local_and_remote_edges_and_skips_dead_ones(
    origin: Any, aiohttp_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _spec, server = origin
    local, *remote = await _edges(aiohttp_server, server, 3)
    dead = f"http://127.0.0.1:{free_port()}"
    fleet = EdgeFleet(
        urls=[*map(_url, remote), dead], token=TOKEN, local=_local(local), warm_budget=10**6
    )
    for edge in (local, *remote):
        assert await _x_cache(_url(edge) + SEGMENTS[0]) == "MISS"
        assert await _x_cache(_url(edge) + "/v/other/master.m3u8") == "MISS"
    with caplog.at_level(logging.WARNING, "edge_cache.fleet"):
        await fleet.purge("/v/vid/")
        for _ in range(100):
            if fleet.pending == 0:
                break
            await asyncio.sleep(0.02)
    for edge in (local, *remote):
        assert await _x_cache(_url(edge) + SEGMENTS[0]) == "MISS"
        assert await _x_cache(_url(edge) + "/v/other/master.m3u8") == "HIT"
    assert dead in caplog.text  # logged, not raised
    await fleet.close()


async def test_a_hanging_edge_holds_a_purge_only_briefly(aiohttp_server: ServerFactory) -> None:
    gate = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await gate.wait()
        return web.json_response({"removed": 0})

    app = web.Application()
    app.router.add_delete("/_edge/cache", hang)
    stuck = await aiohttp_server(app)
    fleet = EdgeFleet(urls=[_url(stuck)], token=TOKEN, warm_budget=1, purge_wait=0.3)
    started = time.monotonic()
    await fleet.purge("/v/x/")
    assert 0.25 < time.monotonic() - started < 2.0
    assert fleet.pending == 1  # still trying in the background
    started = time.monotonic()
    await fleet.close(grace=0.2)
    assert time.monotonic() - started < 2.0 and fleet.pending == 0
    gate.set()


async def test_publishing_forgets_the_cached_404_and_warms_each_path_on_its_owner(
    origin: Any, aiohttp_server: ServerFactory
) -> None:
    spec, server = origin
    master_path = "/v/vid/master.m3u8"
    spec.serve(master_path, b"not yet", status=404, headers={"Cache-Control": "max-age=60"})
    local, *remote = await _edges(aiohttp_server, server, 3)
    urls = list(map(_url, remote))
    for edge_url in [_url(local), *urls]:  # players asked while it was being transcoded
        await _x_cache(edge_url + master_path)
        assert await _x_cache(edge_url + master_path) == "HIT"
    spec.hits.clear()
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv1/360p/index.m3u8\n"
    spec.serve(master_path, master, headers={"Cache-Control": "max-age=60"})
    fleet = EdgeFleet(urls=urls, token=TOKEN, local=_local(local), warm_budget=10**6)
    paths = [master_path, *SEGMENTS[:3]]

    async def listed() -> list[str]:
        return paths

    fleet.published(master_path, "video vid", listed())
    for _ in range(200):
        if fleet.pending == 0 and local.app[admin.WARMER].running == 0 and all(
            edge.app[admin.WARMER].running == 0 for edge in remote
        ) and sum(spec.hits.values()) >= 2 * len(paths):
            break
        await asyncio.sleep(0.02)
    # Each path fetched once by its owner among the remote edges and once by the local edge.
    assert all(spec.hits[path] == 2 for path in paths), spec.hits
    for edge_url in [_url(local), *urls]:  # no edge answers the old 404 any more
        async with aiohttp.ClientSession() as session, session.get(edge_url + master_path) as got:
            assert got.status == 200 and await got.read() == master
    assert spec.hits["/v/vid/v1/360p/index.m3u8"] == 0  # the master was not expanded
    for path in paths:
        assert await _x_cache(pick_edge(path, urls) + path) == "HIT"
        assert await _x_cache(_url(local) + path) == "HIT"
    await fleet.close()


async def test_after_close_nothing_new_starts() -> None:
    fleet = EdgeFleet(warm_budget=1)
    await fleet.close()

    async def never() -> list[str]:
        raise AssertionError("not awaited after close")

    fleet.published("/v/late/master.m3u8", "late", never())
    assert fleet.pending == 0


async def test_a_fetch_in_flight_during_a_purge_is_not_stored(
    aiohttp_server: ServerFactory,
) -> None:
    """A segment fetched while its video is deleted must not come back from the cache."""
    spec = Origin()
    spec.serve("/v/slow/0.m4s", b"old", headers={"Cache-Control": "max-age=600"}, delay=0.5)
    server = await aiohttp_server(spec.app())
    (edge,) = await _edges(aiohttp_server, server, 1)
    fleet = EdgeFleet(local=_local(edge), warm_budget=1)
    fetch = asyncio.create_task(_x_cache(_url(edge) + "/v/slow/0.m4s"))
    await asyncio.sleep(0.2)
    await fleet.purge("/v/slow/")
    assert await fetch == "MISS"
    assert await _x_cache(_url(edge) + "/v/slow/0.m4s") == "MISS"  # not stored
    assert await _x_cache(_url(edge) + "/v/slow/0.m4s") == "HIT"  # later fetches are


def test_store_remembers_recent_removals_and_is_safe_beyond() -> None:
    store = ResponseStore(capacity=10_000, max_object=1_000)
    noted = store.generation
    store.purge_prefix("/v/a/")
    store.remove_key("/v/b/0.m4s")
    assert store.removed_since("/v/a/1.m4s", noted)
    assert store.removed_since("/v/b/0.m4s", noted)
    assert not store.removed_since("/v/b/1.m4s", noted)
    assert not store.removed_since("/v/a/1.m4s", store.generation)
    for n in range(REMOVAL_HISTORY + 1):
        store.remove_key(f"/other/{n}")
    assert store.removed_since("/v/c/0.m4s", noted)  # history lost: assume the worst
