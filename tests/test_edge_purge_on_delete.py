"""A standalone upload API purges deleted videos from remote edges over HTTP (real servers:
ingest, origin and two edges on one local store; the published objects are written
directly, as a worker would)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

import origin.app
from edge_cache.app import create_app as create_edge
from edge_cache.fleet import REPURGE_MARGIN
from tests.support.ingest_server import running_ingest
from tests.support.processes import free_port
from vodstack import keys
from vodstack.media import cache_control_for, content_type_for
from vodstack.settings import Settings
from vodstack.web import BACKENDS

pytestmark = pytest.mark.timeout(60)

TOKEN = "purge-on-delete"
RECHECK = 0.5
ServerFactory = Callable[..., Awaitable[TestServer]]


async def _x_cache(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        await response.read()
        return response.status, response.headers.get("X-Cache", "")


async def test_delete_purges_every_edge_and_a_dead_one_does_not_hold_it(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    # The origin may answer from memory for RECHECK seconds after a deletion; the ingest
    # purges the edges again after that window.
    origin_server = await aiohttp_server(
        origin.app.create_app(Settings(data_dir=data, origin_recheck_immutable=RECHECK))
    )
    edge_settings = Settings(
        upstream=(str(origin_server.make_url("")).rstrip("/"),),
        purge_token=TOKEN,
        health_check_interval=0.0,
    )
    edges = [await aiohttp_server(create_edge(edge_settings)) for _ in range(2)]
    edge_urls = [str(edge.make_url("")).rstrip("/") for edge in edges]
    dead = f"http://127.0.0.1:{free_port()}"
    settings = Settings(
        data_dir=data, edges=(*edge_urls, dead), purge_token=TOKEN,
        origin_recheck_immutable=RECHECK,
    ).validate()  # fmt: skip
    async with running_ingest(settings) as ingest, aiohttp.ClientSession() as http:
        async with http.post(ingest.url + "/v1/videos", data=b"not really a video") as response:
            assert response.status == 201
            video_id = (await response.json())["id"]
        store = ingest.app[BACKENDS].store
        segment_key = f"videos/{video_id}/v0000abcd/360p/0.m4s"
        for key in (keys.master_key(video_id), segment_key):
            await store.put_bytes(
                key, b"published", content_type=content_type_for(key),
                cache_control=cache_control_for(key),
            )
        segment_path = keys.media_path_for_key(segment_key)
        for url in edge_urls:
            assert await _x_cache(http, url + segment_path) == (200, "MISS")
            assert await _x_cache(http, url + segment_path) == (200, "HIT")

        started = time.monotonic()
        async with http.delete(f"{ingest.url}/v1/videos/{video_id}") as response:
            assert response.status == 204
        assert time.monotonic() - started < 5
        # Asked at once, an edge may fetch the origin's remembered copy again (and keep it
        # for a year: the segment is immutable) ...
        for url in edge_urls:
            status, _ = await _x_cache(http, url + segment_path)
            assert status in (200, 404)
        # ... until the second purge, after the origin's window: then it is gone for good.
        await asyncio.sleep(RECHECK + REPURGE_MARGIN + 1.0)
        for url in edge_urls:
            status, _ = await _x_cache(http, url + segment_path)
            assert status == 404
