"""The edge's hit path (`edge_cache.hitpath`) over real sockets: a real upstream aiohttp
server, the edge app on a `HitSite` on 127.0.0.1, raw HTTP/1.1 from the test.

Each test checks which path answered through `HitServer.lent_requests` (requests handed
to aiohttp) next to what the client sees.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge_cache.app import create_app
from edge_cache.hitpath import HitServer, HitSite
from edge_cache.serving import edge_site
from tests.support.origin import Origin
from tests.support.rawhttp import RawResponse, parse_response
from tests.support.scrape import Scrape
from vodstack.playback.tokens import token_for
from vodstack.settings import Settings

pytestmark = pytest.mark.timeout(60)

ServerFactory = Callable[..., Awaitable[TestServer]]
SEGMENT = bytes(range(256)) * 8192  # 2 MiB: sent as a second buffer, past flow control
VIDEO_ID = "HitPathVideo0001"


@dataclass
class HitEdge:
    port: int
    hits: HitServer
    app: web.Application

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            yield Conn(reader, writer, self.port)
        finally:
            writer.close()


class Conn:
    """One client connection speaking raw HTTP/1.1 (responses read by Content-Length)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader = reader
        self.writer = writer
        self.host = f"127.0.0.1:{port}"

    def request(self, target: str, method: str = "GET", headers: dict[str, str] | None = None,
                version: str = "1.1", host: bool = True) -> bytes:  # fmt: skip
        lines = [f"{method} {target} HTTP/{version}"]
        if host:
            lines.append(f"Host: {self.host}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, *requests: bytes) -> None:
        self.writer.write(b"".join(requests))

    async def response(self, head_only: bool = False) -> RawResponse:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        answer = parse_response(head)
        length = int(answer.headers.get("content-length", "0"))
        body = b"" if head_only or answer.status == 304 else await asyncio.wait_for(
            self.reader.readexactly(length), 10
        )
        answer.body = body
        answer.raw = head + body
        return answer

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 10) == b""


@pytest.fixture
async def origin(aiohttp_server: ServerFactory) -> tuple[Origin, TestServer]:
    spec = Origin()
    spec.serve("/v/a.m3u8", b"#EXTM3U\n", headers={
        "Cache-Control": "public, max-age=60", "Content-Type": "application/vnd.apple.mpegurl",
        "X-Request-Id": "the-upstream-request",  # stored with the answer, never sent again
        "X-Cache": "MISS",  # an upstream edge's own: replaced by this edge's
    }, etag='"pl-1"')  # fmt: skip
    spec.serve("/seg.m4s", SEGMENT, headers={
        "Cache-Control": "public, max-age=31536000, immutable", "Content-Type": "video/mp4",
    }, etag='"seg-1"')  # fmt: skip
    spec.serve("/stale", b"old", headers={"Cache-Control": "max-age=0"}, etag='"s"')
    spec.serve("/private", b"mine", headers={"Cache-Control": "private, max-age=60"})
    spec.serve("/vary", b"varied", headers={"Cache-Control": "max-age=60", "Vary": "Accept"})
    spec.serve(f"/v/{VIDEO_ID}/1.m4s", b"signed-seg", headers={
        "Cache-Control": "public, max-age=600",
    })  # fmt: skip
    return spec, await aiohttp_server(spec.app())


@pytest.fixture
def make_edge() -> Callable[..., Any]:
    runners: list[web.AppRunner] = []

    @asynccontextmanager
    async def make(server: TestServer, **overrides: Any) -> AsyncIterator[HitEdge]:
        settings = Settings(
            upstream=(str(server.make_url("/")).rstrip("/"),), health_check_interval=0,
            purge_token="purge-token-0123456789", **overrides,
        )  # fmt: skip
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None, max_headers=100)
        await runner.setup()
        runners.append(runner)
        site = edge_site(runner, app, host="127.0.0.1", port=0)
        assert isinstance(site, HitSite)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield HitEdge(port, site.hits, app)
        finally:
            await runner.cleanup()

    return make


async def test_a_hit_is_answered_as_the_full_path_answers_it(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    async with make_edge(server) as edge, edge.connection() as conn:
        conn.send(conn.request("/v/a.m3u8"))
        miss = await conn.response()
        assert miss.headers["x-cache"] == "MISS" and edge.hits.lent_requests == 1
        conn.send(conn.request("/v/a.m3u8", headers={"X-Request-Id": "trace-42"}))
        fast = await conn.response()
        assert edge.hits.lent_requests == 1  # answered on the hit path
        # A request the hit path leaves to aiohttp (min-fresh=0 changes nothing here).
        conn.send(conn.request("/v/a.m3u8", headers={"Cache-Control": "min-fresh=0"}))
        full = await conn.response()
        assert edge.hits.lent_requests == 2
    assert fast.status == full.status == 200
    assert fast.body == full.body == b"#EXTM3U\n"
    assert fast.headers["x-cache"] == full.headers["x-cache"] == "HIT"
    assert fast.headers["x-request-id"] == "trace-42"
    assert re.fullmatch(r"[0-9a-f]{32}", full.headers["x-request-id"])
    assert fast.raw.count(b"X-Request-Id") == full.raw.count(b"X-Request-Id") == 1
    assert fast.raw.count(b"X-Cache:") == full.raw.count(b"X-Cache:") == 1

    def names(raw: bytes) -> list[bytes]:
        lines = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
        return [
            line.split(b":")[0] for line in lines
            if not line.startswith((b"X-Request-Id", b"X-Cache"))
        ]

    assert names(fast.raw) == names(full.raw)  # the same fields, in the same order
    for name in ("content-type", "etag", "cache-control", "content-length", "via", "date"):
        assert fast.headers[name] == full.headers[name], name
    assert spec.hits["/v/a.m3u8"] == 1


async def test_pipelined_requests_are_answered_in_order(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    async with make_edge(server) as edge, edge.connection() as conn:
        conn.send(conn.request("/v/a.m3u8"))
        await conn.response()
        # hit, miss (lent to aiohttp), conditional (lent), hit, 404 (lent), hit: one write.
        conn.send(
            conn.request("/v/a.m3u8"),
            conn.request("/seg.m4s"),
            conn.request("/v/a.m3u8", headers={"If-None-Match": '"pl-1"'}),
            conn.request("/seg.m4s"),
            conn.request("/nothing-here"),
            conn.request("/v/a.m3u8", method="HEAD"),
        )
        answers = [await conn.response(head_only=i == 5) for i in range(6)]
        assert [a.status for a in answers] == [200, 200, 304, 200, 404, 200]
        assert [a.headers.get("x-cache") for a in answers] == [
            "HIT", "MISS", "HIT", "HIT", "MISS", "HIT",
        ]
        assert answers[1].body == answers[3].body == SEGMENT
        assert answers[5].headers["content-length"] == "8"
        # The connection is still usable after the lent requests: another hit.
        conn.send(conn.request("/v/a.m3u8"))
        assert (await conn.response()).headers["x-cache"] == "HIT"
        assert edge.hits.lent_requests == 4  # the first miss, the segment, the 304, the 404
    assert spec.hits["/seg.m4s"] == 1


async def test_keep_alive_and_close(origin: Any, make_edge: Any) -> None:
    _spec, server = origin
    async with make_edge(server) as edge:
        async with edge.connection() as conn:
            conn.send(conn.request("/v/a.m3u8"))
            await conn.response()
            conn.send(conn.request("/v/a.m3u8", headers={"Connection": "close"}))
            answer = await conn.response()
            assert answer.headers["x-cache"] == "HIT" and answer.headers["connection"] == "close"
            assert await conn.closed()
        async with edge.connection() as conn:  # HTTP/1.0: closes unless keep-alive is asked
            conn.send(conn.request("/v/a.m3u8", version="1.0", host=False))
            answer = await conn.response()
            assert answer.raw.startswith(b"HTTP/1.0 200 OK\r\n") and "connection" not in (
                answer.headers
            )
            assert await conn.closed()
        async with edge.connection() as conn:
            for _ in range(3):
                conn.send(conn.request("/v/a.m3u8", version="1.0",
                                       headers={"Connection": "keep-alive"}))  # fmt: skip
                answer = await conn.response()
                assert answer.headers["connection"] == "keep-alive"
                assert answer.headers["x-cache"] == "HIT"
        assert edge.hits.lent_requests == 1


async def test_head_sends_no_body(origin: Any, make_edge: Any) -> None:
    _spec, server = origin
    async with make_edge(server) as edge, edge.connection() as conn:
        conn.send(conn.request("/seg.m4s"))
        await conn.response()
        conn.send(conn.request("/seg.m4s", method="HEAD"), conn.request("/v/a.m3u8"))
        head = await conn.response(head_only=True)
        assert head.headers["content-length"] == str(len(SEGMENT)) and head.headers[
            "x-cache"] == "HIT"
        after = await conn.response()  # the next answer starts right after the HEAD's head
        assert after.status == 200 and after.body == b"#EXTM3U\n"


async def test_conditionals_ranges_and_uncacheable_go_to_the_full_path(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin
    async with make_edge(server) as edge, edge.connection() as conn:
        conn.send(conn.request("/seg.m4s"))
        await conn.response()
        lent = edge.hits.lent_requests
        conn.send(conn.request("/seg.m4s", headers={"Range": "bytes=10-19"}))
        partial = await conn.response()
        assert partial.status == 206 and partial.body == SEGMENT[10:20]
        assert partial.headers["content-range"] == f"bytes 10-19/{len(SEGMENT)}"
        conn.send(conn.request("/seg.m4s", headers={"If-None-Match": '"seg-1"'}))
        assert (await conn.response()).status == 304
        conn.send(conn.request("/seg.m4s", headers={"Authorization": "Bearer x"}))
        assert (await conn.response()).status == 200
        assert edge.hits.lent_requests == lent + 3
        for path in ("/stale", "/private"):  # stale: revalidated; private: never stored
            for _ in range(2):
                conn.send(conn.request(path))
                answer = await conn.response()
                assert answer.status == 200 and answer.headers["x-cache"] != "HIT", path
        # Vary: answered on the hit path only for the variant stored.
        conn.send(conn.request("/vary", headers={"Accept": "text/a"}))
        assert (await conn.response()).headers["x-cache"] == "MISS"
        before = edge.hits.lent_requests
        conn.send(conn.request("/vary", headers={"Accept": "text/a"}))
        assert (await conn.response()).headers["x-cache"] == "HIT"
        conn.send(conn.request("/vary", headers={"Accept": "text/b"}))
        assert (await conn.response()).headers["x-cache"] == "MISS"
        assert edge.hits.lent_requests == before + 1
    assert spec.hits["/private"] == 2


MALFORMED = [
    ("no Host on HTTP/1.1", b"GET /v/a.m3u8 HTTP/1.1\r\n\r\n"),
    ("two Host fields", b"GET /v/a.m3u8 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("obs-fold", b"GET /v/a.m3u8 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n"),
    ("bare LF in a field", b"GET /v/a.m3u8 HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n"),
    ("space before colon", b"GET /v/a.m3u8 HTTP/1.1\r\nHost : a\r\n\r\n"),
    ("control character", b"GET /v/a.m3u8 HTTP/1.1\r\nHost: a\x01b\r\n\r\n"),
    ("absolute form", b"GET http://elsewhere/v/a.m3u8 HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("bad version", b"GET /v/a.m3u8 HTTP/9.9\r\nHost: a\r\n\r\n"),
    ("CL and TE", b"GET /v/a.m3u8 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("huge field", b"GET /v/a.m3u8 HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 20000 + b"\r\n\r\n"),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n"),
]


@pytest.mark.parametrize(("label", "data"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_requests_get_a_400_and_the_edge_goes_on(
    origin: Any, make_edge: Any, label: str, data: bytes
) -> None:
    _spec, server = origin
    async with make_edge(server) as edge:
        async with edge.connection() as conn:
            conn.send(conn.request("/v/a.m3u8"))
            await conn.response()
            conn.send(data)
            try:
                answer = await conn.response()
            except asyncio.IncompleteReadError as exc:  # closed without an answer
                assert not exc.partial, exc.partial
            else:
                assert 400 <= answer.status < 500, answer.raw[:200]
        async with edge.connection() as conn:
            conn.send(conn.request("/v/a.m3u8"))
            answer = await conn.response()
            assert answer.status == 200 and answer.headers["x-cache"] == "HIT"


async def test_bodies_go_to_aiohttp_for_the_rest_of_the_connection(
    origin: Any, make_edge: Any
) -> None:
    spec, server = origin

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), headers={"Cache-Control": "no-store"})

    spec.routes["/upload"] = echo
    async with make_edge(server) as edge, edge.connection() as conn:
        conn.send(conn.request("/v/a.m3u8"))
        await conn.response()
        chunked = conn.request("/upload", method="POST",
                               headers={"Transfer-Encoding": "chunked"})  # fmt: skip
        conn.send(chunked + b"5\r\nhello\r\n0\r\n\r\n", conn.request("/v/a.m3u8"))
        posted = await conn.response()
        assert posted.status == 200 and posted.body == b"hello"
        after = await conn.response()
        assert after.status == 200 and after.headers["x-cache"] == "HIT"
        lent = edge.hits.lent_requests
        conn.send(conn.request("/v/a.m3u8"))
        await conn.response()
        assert edge.hits.lent_requests == lent  # aiohttp keeps the connection now


async def test_a_client_that_does_not_read_holds_nobody_up(origin: Any, make_edge: Any) -> None:
    _spec, server = origin
    async with make_edge(server) as edge, edge.connection() as slow, edge.connection() as fast:
        slow.send(slow.request("/seg.m4s"))
        await slow.response()
        fast.send(fast.request("/v/a.m3u8"))
        await fast.response()
        # Ten pipelined 2 MiB answers the client does not read yet.
        slow.send(*(slow.request("/seg.m4s") for _ in range(10)))
        for _ in range(20):
            fast.send(fast.request("/v/a.m3u8"))
            assert (await fast.response()).headers["x-cache"] == "HIT"
        # Flow control: past the socket's buffer, at most one answer waits in the
        # edge (a reference to the stored body, not a copy); the rest stay unread.
        buffered = [c.transport.get_write_buffer_size() for c in edge.hits.connections
                    if c.transport is not None]  # fmt: skip
        assert max(buffered) <= len(SEGMENT) + 4096, buffered
        for _ in range(10):
            answer = await slow.response()
            assert answer.status == 200 and answer.body == SEGMENT


async def test_signed_playback_on_the_hit_path(origin: Any, make_edge: Any) -> None:
    spec, server = origin
    secret = "playback-secret-0123456789"
    path = f"/v/{VIDEO_ID}/1.m4s"
    good = token_for(secret, VIDEO_ID, 600)
    other = token_for(secret, VIDEO_ID, 900)
    async with make_edge(server, playback_secret=secret) as edge, edge.connection() as conn:
        conn.send(conn.request(f"{path}?token={good}"))
        assert (await conn.response()).headers["x-cache"] == "MISS"
        lent = edge.hits.lent_requests
        conn.send(conn.request(f"{path}?token={other}"))  # another viewer: same stored copy
        answer = await conn.response()
        assert answer.headers["x-cache"] == "HIT" and answer.body == b"signed-seg"
        assert edge.hits.lent_requests == lent
        conn.send(conn.request(f"{path}?token=0-forged"), conn.request(path))
        assert (await conn.response()).status == 403
        assert (await conn.response()).status == 403
    assert spec.hits[path] == 1


async def test_hits_are_counted_in_metrics_and_stats(origin: Any, make_edge: Any) -> None:
    _spec, server = origin
    async with make_edge(server) as edge, edge.connection() as conn:
        for _ in range(5):
            conn.send(conn.request("/v/a.m3u8"))
            await conn.response()
        conn.send(conn.request("/metrics"))
        text = (await conn.response()).body.decode()
        conn.send(conn.request("/_edge/stats",
                               headers={"Authorization": "Bearer purge-token-0123456789"}))
        stats = (await conn.response()).body.decode()
    metrics = Scrape.parse(text)
    assert metrics.value("vodstack_edge_requests_total", cache="hit") == 4
    assert metrics.value("vodstack_edge_requests_total", cache="miss") == 1
    assert metrics.value(
        "vodstack_http_requests_total", route="/{tail}", method="GET", status="200"
    ) == 5
    assert metrics.value("vodstack_edge_served_bytes_total", source="cache") == 4 * 8
    assert '"hit": 4' in stats


async def test_idle_connections_close_when_the_edge_stops(origin: Any, make_edge: Any) -> None:
    _spec, server = origin
    async with make_edge(server) as edge:
        conn_cm = edge.connection()
        conn = await conn_cm.__aenter__()
        conn.send(conn.request("/v/a.m3u8"))
        await conn.response()
    try:
        assert await conn.closed()  # the edge stopped: its idle connection was closed
    finally:
        await conn_cm.__aexit__(None, None, None)
