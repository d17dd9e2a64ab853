"""Fuzzing beyond the origin alone: the same seeded generator through an edge in front of
the origin, and malformed raw HTTP that aiohttp's parser refuses before any of our code
runs, sent to the origin, the edge and the upload API.

What must hold: never a 5xx, never a byte from outside a video's prefix, a 200/206 body
is exactly the published object's bytes, and the servers keep serving. Answers made by our
code are JSON errors; requests that are not valid HTTP are answered by aiohttp itself with
a short `text/plain` 4xx and a closed connection (see docs/RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from edge_cache.app import create_app as create_edge_app
from ingest.app import create_app as create_ingest_app
from origin.validators import format_http_date
from tests.support.origin_server import VIDEO_ID, RunningOrigin, running_origin
from tests.support.rawhttp import parse_response, raw_request
from tests.support.report import write_section
from tests.test_origin_fuzz import (
    METHODS,
    SECRET,
    plant,
    random_headers,
    random_target,
)
from vodstack.settings import Settings

SEED = 20241107
EDGE_REQUESTS = 2000

PUBLISHED = {
    f"videos/{VIDEO_ID}/master.m3u8":
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv1/720p/index.m3u8\n",
    f"videos/{VIDEO_ID}/v1/720p/index.m3u8": b"#EXTM3U\n#EXT-X-ENDLIST\n",
    f"videos/{VIDEO_ID}/v1/720p/0.m4s": bytes(range(256)) * 16,
    f"videos/{VIDEO_ID}/v1/720p/init.mp4": b"\x00\x00\x00\x08ftyp",
}


@dataclass
class Served:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Served]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield Served("127.0.0.1", runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def publish(origin: RunningOrigin) -> tuple[list[str], list[str]]:
    etags, dates = [], []
    for key, data in PUBLISHED.items():
        info = await origin.store.put_bytes(key, data, content_type="x")
        etags.append(info.etag)
        dates.append(format_http_date(info.last_modified))
    plant(origin.store_dir)
    return etags, dates


def assert_published_bytes(method: str, status: int, headers: dict[str, str], body: bytes) -> None:
    """A 200/206 through the edge carries exactly one published object's bytes (or a
    range of it). The edge may normalise a path (`a/../b`), so the object is found by its
    bytes and length rather than by the request target."""
    if method == "HEAD":
        assert body == b""
        assert int(headers["content-length"]) in {len(d) for d in PUBLISHED.values()}
        return
    if status == 200:
        assert body in PUBLISHED.values(), body[:100]
        return
    start, _, rest = headers["content-range"].removeprefix("bytes ").partition("-")
    end, _, size = rest.partition("/")
    matches = [
        data for data in PUBLISHED.values()
        if len(data) == int(size) and data[int(start) : int(end) + 1] == body
    ]  # fmt: skip
    assert matches, headers


async def test_generated_requests_through_an_edge_never_fail_or_leak(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    async with running_origin(tmp_path / "origin") as origin:
        etags, dates = await publish(origin)
        settings = Settings(
            data_dir=tmp_path / "edge", upstream=(origin.url,), health_check_interval=0
        ).validate()
        async with serving(create_edge_app(settings)) as edge:
            statuses: dict[int, int] = {}
            async with asyncio.timeout(240):
                for number in range(EDGE_REQUESTS):
                    method = rng.choice(METHODS)
                    target = random_target(rng, list(PUBLISHED))
                    headers = random_headers(rng, etags, dates)
                    raw = await raw_request(edge.host, edge.port, method, target, headers)
                    context = (number, method, target, headers, raw.status, raw.body[:200])
                    assert raw.status < 500, context
                    assert SECRET not in raw.raw, context
                    if raw.status in {200, 206}:
                        assert_published_bytes(method, raw.status, raw.headers, raw.body)
                    statuses[raw.status] = statuses.get(raw.status, 0) + 1
            assert {200, 206, 304, 400, 404, 412, 416} <= statuses.keys(), statuses
            print(f"edge statuses: {dict(sorted(statuses.items()))}")


# -- malformed HTTP --------------------------------------------------------------------

LONG = "a" * 9000
MALFORMED: list[tuple[str, bytes]] = [
    ("request line without a version", b"GET /healthz\r\n\r\n"),
    ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
    ("lower-case method", b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("unknown HTTP version", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("header without a colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n"),
    ("space before the colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"),
    ("NUL in a header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    ("bare LF line endings", b"GET /healthz HTTP/1.1\nHost: x\n\n"),
    ("request line over 8 KiB", f"GET /{LONG} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
    ("header over 8 KiB", f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {LONG}\r\n\r\n".encode()),
    ("raw non-ASCII in the path", b"GET /v/\xff\xfe/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("negative Content-Length",
     b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("two different Content-Lengths",
     b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    ("Content-Length with chunked",
     b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("bad chunk size", b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nabc\r\n0\r\n\r\n"),
    ("unknown transfer coding",
     b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
    ("absolute-form target to elsewhere",
     b"GET http://elsewhere.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("asterisk target", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("CONNECT", b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("encoded slash in the id",
     f"GET /v/{VIDEO_ID}%2Fmaster.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
    ("traversal in absolute form",
     f"GET http://x/v/{VIDEO_ID}/../../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
]  # fmt: skip


async def send_raw(host: str, port: int, data: bytes, idle: float = 1.0) -> bytes:
    """Send `data`, read until the server closes or stays silent for `idle` seconds (a
    request it answered and then kept the connection open for the next one)."""
    reader, writer = await asyncio.open_connection(host, port)
    received = b""
    try:
        writer.write(data)
        await writer.drain()
        while True:
            async with asyncio.timeout(idle):
                chunk = await reader.read(65536)
            if not chunk:
                break
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        writer.close()
    return received


async def test_malformed_http_is_a_4xx_and_the_servers_keep_serving(tmp_path: Path) -> None:
    async with running_origin(tmp_path / "origin") as origin:
        await publish(origin)
        edge_settings = Settings(
            data_dir=tmp_path / "edge", upstream=(origin.url,), health_check_interval=0
        ).validate()
        ingest_settings = Settings(data_dir=tmp_path / "ingest").validate()
        async with (
            serving(create_edge_app(edge_settings)) as edge,
            serving(create_ingest_app(ingest_settings)) as ingest,
            aiohttp.ClientSession() as http,
        ):
            servers = {
                "origin": Served(origin.host, origin.port), "edge": edge, "ingest": ingest,
            }  # fmt: skip
            rows = ["| malformed request | origin | edge | upload API |", "|---|---|---|---|"]
            for label, data in MALFORMED:
                cells = []
                for name, server in servers.items():
                    raw = await send_raw(server.host, server.port, data)
                    if not raw:
                        cells.append("closed")
                        continue
                    answer = parse_response(raw)
                    context = (label, name, raw[:300])
                    assert 400 <= answer.status < 500 or answer.status in {200, 204}, context
                    assert SECRET not in raw, context
                    kind = answer.headers.get("content-type", "-").split(";")[0]
                    if kind == "application/json":
                        assert b'"error"' in answer.body or answer.status < 300, context
                    cells.append(f"{answer.status} {kind}")
                    async with http.get(server.url + "/healthz") as response:
                        assert response.status == 200, (label, name)
                rows.append(f"| {label} | " + " | ".join(cells) + " |")
    write_section("malformed", "\n".join(rows))
