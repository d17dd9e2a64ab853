"""The edge proxy against real upstream aiohttp servers started by each test (127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge_cache import admin
from edge_cache.app import create_app
from edge_cache.fields import format_http_date
from edge_cache.proxy import EdgeProxy
from tests.support.origin import FakeClock, Origin
from vodstack.settings import Settings

pytestmark = pytest.mark.timeout(60)

TOKEN = "s3cret-token"
ServerFactory = Callable[..., Awaitable[TestServer]]
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class Edge:
    def __init__(self, server: TestServer, client: TestClient[Any, Any]) -> None:
        self.server = server
        self.client = client

    @property
    def proxy(self) -> EdgeProxy:
        return self.server.app[admin.PROXY]

    async def get(self, path: str, **kwargs: Any) -> tuple[aiohttp.ClientResponse, bytes]:
        async with self.client.get(path, **kwargs) as response:
            return response, await response.read()


@pytest.fixture
def make_edge(aiohttp_server: ServerFactory, aiohttp_client: ClientFactory) -> Callable[..., Any]:
    async def make(*origins: TestServer, clock: FakeClock | None = None, **overrides: Any) -> Edge:
        overrides.setdefault("health_check_interval", 0.0)
        settings = Settings(
            upstream=tuple(str(origin.make_url("/")).rstrip("/") for origin in origins),
            **overrides,
        )
        server = await aiohttp_server(create_app(settings))
        client = await aiohttp_client(server)
        edge = Edge(server, client)
        if clock is not None:
            edge.proxy.clock = clock
        return edge

    return make


@pytest.fixture
async def origin(aiohttp_server: ServerFactory) -> tuple[Origin, TestServer]:
    spec = Origin()
    return spec, await aiohttp_server(spec.app())


# ------------------------------------------------------------------ basics


async def test_miss_then_hit_with_age_and_x_cache(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/a", b"body-a", headers={"Cache-Control": "max-age=60"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock)
    first, body = await edge.get("/a")
    assert first.status == 200 and body == b"body-a" and first.headers["X-Cache"] == "MISS"
    clock.advance(7)
    second, body = await edge.get("/a")
    assert second.headers["X-Cache"] == "HIT" and body == b"body-a"
    assert second.headers["Age"] == "7"
    assert second.headers["Date"] == first.headers["Date"]  # the stored Date is not rewritten
    assert spec.hits["/a"] == 1


async def test_head_is_answered_from_a_stored_get(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/h", b"twelve bytes", headers={"Cache-Control": "max-age=60"})
    edge = await make_edge(server)
    async with edge.client.head("/h") as response:
        assert response.status == 200 and response.headers["X-Cache"] == "MISS"
    await edge.get("/h")
    async with edge.client.head("/h") as response:
        assert response.headers["X-Cache"] == "HIT"
        assert response.headers["Content-Length"] == "12" and await response.read() == b""
    assert [seen.method for seen in spec.seen] == ["HEAD", "GET"]


async def test_no_store_and_private_are_never_stored(origin: Any, make_edge: Any) -> None:
    """They pass through labelled BYPASS: the cache took no part (API answers, for one)."""
    spec, server = origin
    spec.serve("/ns", headers={"Cache-Control": "no-store"})
    spec.serve("/pv", headers={"Cache-Control": "private, max-age=60"})
    spec.serve("/sc", headers={"Cache-Control": "no-store", "Surrogate-Control": "max-age=60"})
    edge = await make_edge(server)
    for path in ("/ns", "/pv"):
        for _ in range(2):
            response, _ = await edge.get(path)
            assert response.headers["X-Cache"] == "BYPASS"
        assert spec.hits[path] == 2
    for expected in ("MISS", "HIT"):  # Surrogate-Control overrides no-store for the edge
        response, _ = await edge.get("/sc")
        assert response.headers["X-Cache"] == expected


async def test_query_strings_are_part_of_the_key(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/q", headers={"Cache-Control": "max-age=60"})
    edge = await make_edge(server)
    await edge.get("/q?a=1")
    await edge.get("/q?a=2")
    response, _ = await edge.get("/q?a=1")
    assert response.headers["X-Cache"] == "HIT"
    assert spec.hits == {"/q?a=1": 1, "/q?a=2": 1}


async def test_unknown_paths_404_are_cached_briefly(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/gone", b"not yet", status=404, headers={"Cache-Control": "public, max-age=2"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock)
    await edge.get("/gone")
    response, _ = await edge.get("/gone")
    assert response.status == 404 and response.headers["X-Cache"] == "HIT"
    clock.advance(3)
    response, _ = await edge.get("/gone")
    assert response.headers["X-Cache"] == "MISS" and spec.hits["/gone"] == 2


# ------------------------------------------------------------------ collapsed forwarding


async def test_200_concurrent_misses_make_one_upstream_request(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/cold", b"x" * 50_000, headers={"Cache-Control": "max-age=60"}, delay=0.3)
    edge = await make_edge(server)
    results = await asyncio.gather(*(edge.get("/cold") for _ in range(200)))
    assert spec.hits["/cold"] == 1
    assert all(response.status == 200 and body == b"x" * 50_000 for response, body in results)
    assert [response.headers["X-Cache"] for response, _ in results].count("MISS") == 1


async def test_uncacheable_answers_are_not_shared_between_waiters(
    origin: Any, make_edge: Any
) -> None:
    """A `private` answer must not reach other clients: waiters fetch their own."""
    spec, server = origin
    calls = 0

    async def personal(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return web.Response(text=request.headers.get("X-User", "?"),
                            headers={"Cache-Control": "private, max-age=60"})

    spec.routes["/me"] = personal
    edge = await make_edge(server)
    users = [f"user{n}" for n in range(5)]
    results = await asyncio.gather(*(edge.get("/me", headers={"X-User": u}) for u in users))
    assert [body.decode() for _, body in results] == users
    assert calls == 5


async def test_waiters_give_up_after_the_collapse_timeout(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/slow", b"s", headers={"Cache-Control": "max-age=60"}, delay=1.0)
    edge = await make_edge(server, collapse_timeout=0.2)
    started = time.monotonic()
    results = await asyncio.gather(*(edge.get("/slow") for _ in range(3)))
    assert all(response.status == 200 for response, _ in results)
    assert spec.hits["/slow"] == 3  # the two waiters fetched on their own after 0.2 s
    assert time.monotonic() - started < 2.5


# ------------------------------------------------------------------ stale serving


async def test_stale_while_revalidate_serves_stale_and_refreshes_once(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    spec.serve("/swr", b"v1", etag='"v1"', delay=0.2,
               headers={"Cache-Control": "max-age=1, stale-while-revalidate=60"},
               not_modified_headers={"Cache-Control": "max-age=100"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock)
    await edge.get("/swr")
    clock.advance(5)
    results = await asyncio.gather(*(edge.get("/swr") for _ in range(20)))
    assert {response.headers["X-Cache"] for response, _ in results} == {"STALE"}
    assert all(body == b"v1" for _, body in results)
    await edge.proxy.close()  # wait for the background refresh
    assert spec.hits["/swr"] == 2
    assert spec.last("/swr").headers["If-None-Match"] == '"v1"'
    response, _ = await edge.get("/swr")
    assert response.headers["X-Cache"] == "HIT"
    assert response.headers["Cache-Control"] == "max-age=100"


async def test_stale_if_error_with_the_upstream_stopped(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/sie", b"keep me", headers={"Cache-Control": "max-age=1, stale-if-error=30"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock, edge_stale_if_error=0.0)
    await edge.get("/sie")
    await server.close()
    clock.advance(10)
    response, body = await edge.get("/sie")
    assert response.status == 200 and body == b"keep me"
    assert response.headers["X-Cache"] == "STALE"
    clock.advance(60)  # beyond the 30 s window
    response, body = await edge.get("/sie")
    assert response.status == 502
    error = await _json(body)
    assert error["error"]["code"] == "bad_gateway"


async def test_stale_if_error_on_upstream_5xx(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/flap", b"good", headers={"Cache-Control": "max-age=1"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock, edge_stale_if_error=60.0)
    await edge.get("/flap")
    spec.serve("/flap", b"oops", status=503)
    clock.advance(5)
    response, body = await edge.get("/flap")
    assert body == b"good" and response.headers["X-Cache"] == "STALE"
    clock.advance(100)
    response, body = await edge.get("/flap")
    assert response.status == 503 and body == b"oops"


async def test_must_revalidate_forbids_stale_on_error(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/strict", b"s", headers={"Cache-Control": "max-age=1, must-revalidate"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock, edge_stale_if_error=3600.0)
    await edge.get("/strict")
    await server.close()
    clock.advance(5)
    response, _ = await edge.get("/strict")
    assert response.status == 502


async def test_only_if_cached_gives_504_when_nothing_is_stored(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    spec.serve("/oic", headers={"Cache-Control": "max-age=60"})
    edge = await make_edge(server)
    response, body = await edge.get("/oic", headers={"Cache-Control": "only-if-cached"})
    assert response.status == 504 and (await _json(body))["error"]["code"] == "gateway_timeout"
    assert spec.hits["/oic"] == 0


# ------------------------------------------------------------------ validation


async def test_revalidation_304_updates_stored_headers(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/rv", b"same body", etag='"e1"',
               headers={"Cache-Control": "max-age=1", "X-Version": "a"},
               not_modified_headers={"Cache-Control": "max-age=100", "X-Version": "b"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock)
    await edge.get("/rv")
    clock.advance(5)
    response, body = await edge.get("/rv")
    assert response.headers["X-Cache"] == "REVALIDATED" and body == b"same body"
    assert response.headers["X-Version"] == "b"
    assert spec.last("/rv").headers["If-None-Match"] == '"e1"'
    response, _ = await edge.get("/rv")
    assert response.headers["X-Cache"] == "HIT" and response.headers["X-Version"] == "b"
    assert spec.hits["/rv"] == 2


async def test_revalidation_200_replaces_the_entry(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/new", b"old", etag='"1"', headers={"Cache-Control": "max-age=1"})
    clock = FakeClock()
    edge = await make_edge(server, clock=clock)
    await edge.get("/new")
    spec.serve("/new", b"new", etag='"2"', headers={"Cache-Control": "max-age=60"})
    clock.advance(5)
    response, body = await edge.get("/new")
    assert body == b"new" and response.headers["X-Cache"] == "MISS"
    response, body = await edge.get("/new")
    assert body == b"new" and response.headers["X-Cache"] == "HIT"


async def test_client_conditionals_are_answered_from_the_cache(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    modified = format_http_date(time.time() - 3600)
    spec.serve("/c", b"cond", etag='"c1"',
               headers={"Cache-Control": "max-age=60", "Last-Modified": modified})
    edge = await make_edge(server)
    await edge.get("/c")
    response, body = await edge.get("/c", headers={"If-None-Match": '"c1"'})
    assert response.status == 304 and body == b"" and response.headers["ETag"] == '"c1"'
    response, _ = await edge.get("/c", headers={"If-Modified-Since": format_http_date(time.time())})
    assert response.status == 304
    response, body = await edge.get("/c", headers={"If-None-Match": '"other"'})
    assert response.status == 200 and body == b"cond"
    assert spec.hits["/c"] == 1
    cold_response, _ = await edge.get("/c2-missing", headers={"If-None-Match": '"x"'})
    assert cold_response.status == 404


async def test_conditional_miss_fetches_the_full_object_and_answers_304(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    spec.serve("/cm", b"full", etag='"m1"', headers={"Cache-Control": "max-age=60"})
    edge = await make_edge(server)
    response, _ = await edge.get("/cm", headers={"If-None-Match": '"m1"'})
    assert response.status == 304
    assert "If-None-Match" not in spec.last("/cm").headers  # filled unconditionally
    response, body = await edge.get("/cm")
    assert response.headers["X-Cache"] == "HIT" and body == b"full"


# ------------------------------------------------------------------ Vary


async def test_vary_keeps_one_entry_per_variant(origin: Any, make_edge: Any) -> None:
    spec, server = origin

    async def by_language(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("Accept-Language", "none"),
                            headers={"Cache-Control": "max-age=60", "Vary": "Accept-Language"})

    spec.routes["/lang"] = by_language
    edge = await make_edge(server)
    for language in ("en", "fr", "en", "fr"):
        _, body = await edge.get("/lang", headers={"Accept-Language": language})
        assert body.decode() == language
    assert spec.hits["/lang"] == 2
    response, body = await edge.get("/lang")
    assert body == b"none" and response.headers["X-Cache"] == "MISS"


async def test_vary_star_is_never_reused(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/star", headers={"Cache-Control": "max-age=60", "Vary": "*"})
    edge = await make_edge(server)
    await edge.get("/star")
    await edge.get("/star")
    assert spec.hits["/star"] == 2


# ------------------------------------------------------------------ ranges


async def test_range_on_hit_answered_from_the_cache(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    payload = bytes(range(256)) * 4
    spec.serve("/seg.m4s", payload, etag='"s1"', headers={"Cache-Control": "max-age=600"})
    edge = await make_edge(server)
    await edge.get("/seg.m4s")
    response, body = await edge.get("/seg.m4s", headers={"Range": "bytes=10-19"})
    assert response.status == 206 and body == payload[10:20]
    assert response.headers["Content-Range"] == "bytes 10-19/1024"
    response, body = await edge.get("/seg.m4s", headers={"Range": "bytes=-4"})
    assert body == payload[-4:]
    response, body = await edge.get("/seg.m4s", headers={"Range": "bytes=5000-"})
    assert response.status == 416 and response.headers["Content-Range"] == "bytes */1024"
    assert (await _json(body))["error"]["code"] == "range_not_satisfiable"
    response, body = await edge.get(
        "/seg.m4s", headers={"Range": "bytes=0-1", "If-Range": '"other"'}
    )
    assert response.status == 200 and body == payload
    assert spec.hits["/seg.m4s"] == 1


async def test_range_on_miss_fetches_the_whole_object_once(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    payload = b"0123456789" * 100
    spec.serve("/m.m4s", payload, headers={"Cache-Control": "max-age=600"})
    edge = await make_edge(server)
    response, body = await edge.get("/m.m4s", headers={"Range": "bytes=100-109"})
    assert response.status == 206 and body == payload[100:110]
    assert "Range" not in spec.last("/m.m4s").headers
    response, body = await edge.get("/m.m4s", headers={"Range": "bytes=0-"})
    assert response.status == 206 and body == payload and response.headers["X-Cache"] == "HIT"
    assert spec.hits["/m.m4s"] == 1


async def test_range_on_oversize_miss_is_passed_through(origin: Any, make_edge: Any) -> None:
    spec, server = origin

    async def ranged(request: web.Request) -> web.StreamResponse:
        payload = b"r" * 300_000
        return web.Response(body=payload, headers={"Cache-Control": "max-age=60"}) if (
            "Range" not in request.headers
        ) else web.Response(status=206, body=b"rr", headers={"Content-Range": "bytes 0-1/300000"})

    spec.routes["/big.mp4"] = ranged
    edge = await make_edge(server, cache_size=1_000_000, max_object_fraction=0.1)
    response, body = await edge.get("/big.mp4", headers={"Range": "bytes=0-1"})
    assert response.status == 206 and body == b"rr"
    assert spec.last("/big.mp4").headers["Range"] == "bytes=0-1"


# ------------------------------------------------------------------ unsafe methods, auth


async def test_unsafe_methods_pass_through_and_invalidate(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/doc", b"doc", headers={"Cache-Control": "max-age=600"})
    spec.serve("/other", b"other", headers={"Cache-Control": "max-age=600"})

    async def post(request: web.Request) -> web.Response:
        assert await request.read() == b"payload"
        return web.Response(status=201, headers={"Location": "/other"})

    edge = await make_edge(server)
    await edge.get("/doc")
    await edge.get("/other")
    spec.routes["/doc"] = post
    async with edge.client.post("/doc", data=b"payload") as response:
        assert response.status == 201 and response.headers["X-Cache"] == "BYPASS"
    spec.serve("/doc", b"doc2", headers={"Cache-Control": "max-age=600"})
    _, body = await edge.get("/doc")
    assert body == b"doc2"
    response, _ = await edge.get("/other")
    assert response.headers["X-Cache"] == "MISS"


async def test_failed_unsafe_request_does_not_invalidate(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/keep", b"k", headers={"Cache-Control": "max-age=600"})
    edge = await make_edge(server)
    await edge.get("/keep")

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=500)

    spec.routes["/keep"] = refuse
    async with edge.client.delete("/keep") as response:
        assert response.status == 500
    response, _ = await edge.get("/keep")
    assert response.headers["X-Cache"] == "HIT"


async def test_authorization_requires_explicit_permission(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/mine", b"secret", headers={"Cache-Control": "max-age=600"})
    spec.serve("/shared", b"public", headers={"Cache-Control": "public, max-age=600"})
    edge = await make_edge(server)
    auth = {"Authorization": "Bearer user-1"}
    await edge.get("/mine", headers=auth)
    response, _ = await edge.get("/mine", headers=auth)
    assert response.headers["X-Cache"] == "MISS"
    await edge.get("/mine")  # unauthenticated: now stored
    response, _ = await edge.get("/mine", headers=auth)
    assert response.headers["X-Cache"] == "MISS"  # not reused for an authorised request
    await edge.get("/shared", headers=auth)
    response, _ = await edge.get("/shared", headers=auth)
    assert response.headers["X-Cache"] == "HIT"
    assert spec.last("/mine").headers["Authorization"] == "Bearer user-1"


async def test_hop_by_hop_fields_are_stripped(origin: Any, make_edge: Any) -> None:
    spec, server = origin

    async def noisy(request: web.Request) -> web.Response:
        response = web.Response(text="h", headers={
            "Cache-Control": "max-age=60", "Proxy-Authenticate": "Basic",
            "Trailer": "X-Checksum", "X-Drop": "1", "X-Keep": "1",
        })
        response.headers["Connection"] = "X-Drop"
        return response

    spec.routes["/hop"] = noisy
    edge = await make_edge(server)
    request_headers = {
        "Connection": "X-Secret", "X-Secret": "1", "TE": "trailers",
        "Proxy-Authorization": "Basic x", "X-Fine": "1",
    }
    for expected in ("MISS", "HIT"):
        response, _ = await edge.get("/hop", headers=request_headers)
        assert response.headers["X-Cache"] == expected
        assert "Proxy-Authenticate" not in response.headers
        assert "Trailer" not in response.headers and "X-Drop" not in response.headers
        assert response.headers["X-Keep"] == "1"
        assert "vodstack-edge" in response.headers["Via"]
    seen = spec.last("/hop").headers
    for name in ("X-Secret", "TE", "Proxy-Authorization"):
        assert name not in seen
    assert seen["X-Fine"] == "1" and "vodstack-edge" in seen["Via"]


# ------------------------------------------------------------------ size bound, streaming


async def test_byte_bound_holds_after_filling_three_times_over(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    capacity = 2_000_000
    spec.serve("/obj", b"o" * 40_000, headers={"Cache-Control": "max-age=600"})
    edge = await make_edge(server, cache_size=capacity, max_object_fraction=0.05)
    rss_before = _rss_bytes()
    for batch in range(15):
        await asyncio.gather(*(edge.get(f"/obj?n={batch * 10 + n}") for n in range(10)))
    store = edge.proxy.store
    assert store.total_bytes <= capacity
    assert 3 * capacity <= 150 * 40_000
    assert store.evictions > 0 and len(store) < 150
    assert _rss_bytes() - rss_before < 60 * 1024**2
    response, _ = await edge.get("/obj?n=149")
    assert response.headers["X-Cache"] == "HIT"
    response, _ = await edge.get("/obj?n=0")
    assert response.headers["X-Cache"] == "MISS"


async def test_oversize_response_streams_through_without_buffering(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    finished = {"": asyncio.Event(), "?sized=1": asyncio.Event()}
    chunk = b"c" * 32_768

    async def large(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Cache-Control": "max-age=600"})
        if request.query.get("sized"):
            response.content_length = 40 * len(chunk)
        await response.prepare(request)
        for _ in range(40):
            await response.write(chunk)
            await asyncio.sleep(0.02)
        finished["?sized=1" if request.query.get("sized") else ""].set()
        await response.write_eof()
        return response

    spec.routes["/large"] = large
    edge = await make_edge(server, cache_size=1_000_000, max_object_fraction=0.1)
    for query in ("?sized=1", ""):
        async with edge.client.get("/large" + query) as response:
            first = await response.content.readany()
            assert first and not finished[query].is_set()  # bytes arrive while upstream sends
            rest = await response.read()
        assert len(first) + len(rest) == 40 * len(chunk)
        assert edge.proxy.store.total_bytes == 0
        await finished[query].wait()
    response, _ = await edge.get("/large?sized=1")
    assert response.headers["X-Cache"] == "MISS" and spec.hits["/large?sized=1"] == 2


# ------------------------------------------------------------------ purge and warm


async def test_purge_needs_the_token_and_removes_by_prefix(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    for path in ("/v/abc/master.m3u8", "/v/abc/720p/0.m4s", "/v/abcd/master.m3u8"):
        spec.serve(path, b"p", headers={"Cache-Control": "max-age=600"})
    edge = await make_edge(server, purge_token=TOKEN)
    for path in ("/v/abc/master.m3u8", "/v/abc/720p/0.m4s", "/v/abcd/master.m3u8"):
        await edge.get(path)
    url = "/_edge/cache?prefix=/v/abc/"
    async with edge.client.delete(url) as response:
        assert response.status == 401
    async with edge.client.delete(url, headers={"Authorization": "Bearer wrong"}) as response:
        assert response.status == 403
    async with edge.client.delete(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200 and (await response.json()) == {"removed": 2}
    response, _ = await edge.get("/v/abc/master.m3u8")
    assert response.headers["X-Cache"] == "MISS"
    response, _ = await edge.get("/v/abcd/master.m3u8")
    assert response.headers["X-Cache"] == "HIT"


async def test_purge_is_disabled_without_a_token(origin: Any, make_edge: Any) -> None:
    _, server = origin
    edge = await make_edge(server)
    async with edge.client.delete(
        "/_edge/cache?prefix=/", headers={"Authorization": "Bearer anything"}
    ) as response:
        assert response.status == 403
        assert "disabled" in (await response.json())["error"]["message"]


async def test_warm_fetches_playlists_and_first_segments(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n"
    media = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n" + "".join(
        f"#EXTINF:4,\n{n}.m4s\n" for n in range(10)
    ) + "#EXT-X-ENDLIST\n"
    cache = {"Cache-Control": "public, max-age=600"}
    spec.serve("/v/w/master.m3u8", master.encode(), headers=cache)
    spec.serve("/v/w/720p/index.m3u8", media.encode(), headers=cache)
    spec.serve("/v/w/720p/init.mp4", b"init", headers=cache)
    for n in range(10):
        spec.serve(f"/v/w/720p/{n}.m4s", b"s" * 1000, headers=cache)
    edge = await make_edge(server, purge_token=TOKEN)
    async with edge.client.post(
        "/_edge/warm", json={"paths": ["/v/w/master.m3u8"], "segments": 2},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 202
    await _until(lambda: spec.hits["/v/w/720p/1.m4s"] == 1)
    await asyncio.sleep(0.1)
    assert spec.hits["/v/w/720p/2.m4s"] == 0  # only the first two segments
    for path in ("/v/w/master.m3u8", "/v/w/720p/index.m3u8", "/v/w/720p/init.mp4",
                 "/v/w/720p/0.m4s"):
        response, _ = await edge.get(path)
        assert response.headers["X-Cache"] == "HIT", path
    async with edge.client.post(
        "/_edge/warm", json={"paths": "nope"}, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        assert response.status == 400


async def test_warm_respects_the_byte_budget(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    for n in range(20):
        spec.serve(f"/b/{n}", b"b" * 10_000, headers={"Cache-Control": "max-age=600"})
    edge = await make_edge(server, purge_token=TOKEN, warm_concurrency=1)
    async with edge.client.post(
        "/_edge/warm", json={"paths": [f"/b/{n}" for n in range(20)], "budget": 30_000},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 202
    await _until(lambda: sum(spec.hits.values()) >= 3)
    await asyncio.sleep(0.3)
    assert 3 <= sum(spec.hits.values()) <= 4


# ------------------------------------------------------------------ upstreams


async def test_load_balancing_survives_a_dead_upstream_and_recovers(
    aiohttp_server: ServerFactory, make_edge: Any
) -> None:
    specs = [Origin(), Origin()]
    for spec in specs:
        spec.serve("/api", b"dyn", headers={"Cache-Control": "no-store"})
    servers = [await aiohttp_server(spec.app()) for spec in specs]
    edge = await make_edge(*servers, lb_policy="round-robin", health_check_interval=0.1)
    for _ in range(10):
        response, _ = await edge.get("/api")
        assert response.status == 200
    assert specs[0].hits["/api"] == 5 and specs[1].hits["/api"] == 5

    port = servers[0].port
    await servers[0].close()
    for _ in range(10):
        response, _ = await edge.get("/api")
        assert response.status == 200
    assert specs[1].hits["/api"] == 15

    await _until(lambda: not edge.proxy.pool.upstreams[0].healthy)
    revived = Origin()
    revived.serve("/api", b"dyn", headers={"Cache-Control": "no-store"})
    await aiohttp_server(revived.app(), port=port)
    await _until(lambda: edge.proxy.pool.upstreams[0].healthy)
    for _ in range(10):
        await edge.get("/api")
    assert revived.hits["/api"] == 5


async def test_circuit_breaker_opens_then_closes_after_a_good_probe(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    hang = {"seconds": 2.0}

    async def stuck(request: web.Request) -> web.Response:
        await asyncio.sleep(hang["seconds"])
        return web.Response(text="up", headers={"Cache-Control": "no-store"})

    spec.routes["/b"] = stuck
    edge = await make_edge(
        server, breaker_threshold=3, breaker_cooldown=0.5, upstream_timeout=0.2
    )
    for _ in range(3):
        response, body = await edge.get("/b")
        assert response.status == 504
        assert (await _json(body))["error"]["code"] == "gateway_timeout"
    started = time.monotonic()
    response, body = await edge.get("/b")
    assert time.monotonic() - started < 0.15  # fails fast, nobody waits on the upstream
    assert response.status == 503 and int(response.headers["Retry-After"]) >= 1
    assert (await _json(body))["error"]["code"] == "upstream_unavailable"
    assert spec.hits["/b"] == 3
    async with edge.client.get("/readyz") as ready:
        assert ready.status == 503
    hang["seconds"] = 0.0
    await asyncio.sleep(0.55)
    response, body = await edge.get("/b")  # the half-open probe
    assert response.status == 200 and body == b"up"
    assert edge.proxy.pool.upstreams[0].breaker.state.value == "closed"
    async with edge.client.get("/readyz") as ready:
        assert ready.status == 200


async def test_upstream_5xx_answers_do_not_trip_the_breaker(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    spec.serve("/down", b"no", status=503)
    spec.serve("/fine", b"yes", headers={"Cache-Control": "no-store"})
    edge = await make_edge(server, breaker_threshold=2)
    for _ in range(5):
        response, body = await edge.get("/down")
        assert response.status == 503 and body == b"no"
    response, body = await edge.get("/fine")
    assert response.status == 200 and body == b"yes"


async def test_unreachable_upstream_gives_a_json_502(make_edge: Any,
                                                     aiohttp_server: ServerFactory) -> None:
    spec = Origin()
    server = await aiohttp_server(spec.app())
    edge = await make_edge(server)
    await server.close()
    response, body = await edge.get("/anything")
    assert response.status == 502
    assert (await _json(body))["error"]["code"] == "bad_gateway"


# ------------------------------------------------------------------ helpers


async def _json(body: bytes) -> Any:
    import json

    return json.loads(body)


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
