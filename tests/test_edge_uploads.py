"""Request bodies through the edge: streamed, sized, 100-continue passed on, cut-offs passed on.

A real upstream aiohttp server records what reached it; clients are aiohttp or a raw socket
(to control exactly when body bytes are sent, or to vanish mid-body).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge_cache.app import create_app
from tests.support.rawhttp import parse_response
from vodstack.settings import Settings

pytestmark = pytest.mark.timeout(60)

LIMIT = 1_000_000
ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class Receiver:
    """Upstream: accepts bodies up to LIMIT bytes (refused at once from Content-Length)."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    started: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/upload", self.upload, expect_handler=self.expect)
        app.router.add_get("/healthz", _ok)
        return app

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        if (request.content_length or 0) > LIMIT:
            return web.json_response({"error": "too large"}, status=413)
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return None

    async def upload(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > LIMIT:
            return web.json_response({"error": "too large"}, status=413)
        self.started += 1
        seen: dict[str, Any] = {
            "content_length": request.headers.get("Content-Length"),
            "chunked": "chunked" in request.headers.get("Transfer-Encoding", ""),
            "received": 0,
            "error": None,
        }
        self.bodies.append(seen)
        try:
            async for chunk in request.content.iter_chunked(65536):
                seen["received"] += len(chunk)
        except BaseException as exc:  # a broken body, or the handler cancelled with it
            seen["error"] = type(exc).__name__
            raise
        finally:
            self.ended.set()
        return web.json_response({"received": seen["received"]}, status=201)


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _setup(
    aiohttp_server: ServerFactory, **overrides: Any
) -> tuple[Receiver, TestServer]:
    receiver = Receiver()
    upstream = await aiohttp_server(receiver.app())
    overrides.setdefault("health_check_interval", 0.0)
    settings = Settings(upstream=(str(upstream.make_url("")).rstrip("/"),), **overrides)
    edge = await aiohttp_server(create_app(settings))
    return receiver, edge


async def _paced(total: int, pieces: int, pause: float) -> AsyncIterator[bytes]:
    for _ in range(pieces):
        yield b"u" * (total // pieces)
        await asyncio.sleep(pause)


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(everything up to the final response's head, its body), by Content-Length: the server
    may keep the connection open a while to drain a body the client never sends."""
    raw = await _read_head(reader)
    while parse_response(raw.split(b"\r\n\r\n")[-2] + b"\r\n\r\n").status < 200:
        raw += await _read_head(reader)
    final = parse_response(raw.split(b"\r\n\r\n")[-2] + b"\r\n\r\n")
    body = await reader.readexactly(int(final.headers.get("content-length", "0")))
    return raw, body


async def _open(edge: TestServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(edge.host, edge.port)


def _head(edge: TestServer, length: int | None, *, expect: bool, chunked: bool = False) -> bytes:
    lines = ["POST /upload HTTP/1.1", f"Host: {edge.host}:{edge.port}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if expect:
        lines.append("Expect: 100-continue")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_declared_length_goes_upstream_and_the_body_streams(
    aiohttp_server: ServerFactory,
) -> None:
    receiver, edge = await _setup(aiohttp_server)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            edge.make_url("/upload"), data=_paced(600_000, 6, 0.0),
            headers={"Content-Length": "600000"},
        ) as response:
            assert response.status == 201 and response.headers["X-Cache"] == "BYPASS"
            assert await response.json() == {"received": 600_000}
        async with session.post(edge.make_url("/upload"), data=_paced(300_000, 3, 0.0)) as response:
            assert response.status == 201  # no length declared: chunked all the way
    assert receiver.bodies[0]["content_length"] == "600000" and not receiver.bodies[0]["chunked"]
    assert receiver.bodies[1]["content_length"] is None and receiver.bodies[1]["chunked"]


async def test_too_large_declared_upload_is_refused_at_once(
    aiohttp_server: ServerFactory,
) -> None:
    receiver, edge = await _setup(aiohttp_server)
    # Without Expect: the upstream refuses from the declared length while bytes still flow.
    reader, writer = await _open(edge)
    try:
        writer.write(_head(edge, 50 * LIMIT, expect=False) + b"x" * 65536)
        await writer.drain()
        async with asyncio.timeout(10):
            head = await _read_head(reader)
        assert parse_response(head).status == 413
    finally:
        writer.close()
    # With Expect: 100-continue no body byte is sent at all, and no 100 reaches the client.
    reader, writer = await _open(edge)
    try:
        writer.write(_head(edge, 50 * LIMIT, expect=True))
        await writer.drain()
        async with asyncio.timeout(10):
            raw, body = await _read_response(reader)
        assert parse_response(raw).status == 413 and b"100 Continue" not in raw
        assert json.loads(body) == {"error": "too large"}
    finally:
        writer.close()
    assert receiver.started == 0


async def test_expect_continue_is_passed_on(aiohttp_server: ServerFactory) -> None:
    _receiver, edge = await _setup(aiohttp_server)
    reader, writer = await _open(edge)
    try:
        writer.write(_head(edge, 1000, expect=True))
        await writer.drain()
        async with asyncio.timeout(10):
            interim = await _read_head(reader)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"b" * 1000)
        await writer.drain()
        async with asyncio.timeout(10):
            raw, body = await _read_response(reader)
        assert parse_response(raw).status == 201 and json.loads(body) == {"received": 1000}
    finally:
        writer.close()


async def test_a_slow_upload_outlasts_the_upstream_timeout(aiohttp_server: ServerFactory) -> None:
    """upstream_timeout bounds waiting for the upstream, not how long a body takes to send."""
    receiver, edge = await _setup(aiohttp_server, upstream_timeout=0.3)
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(
        edge.make_url("/upload"), data=_paced(200_000, 10, 0.15),
        headers={"Content-Length": "200000"},
    ) as response:
        assert response.status == 201, await response.text()
    assert time.monotonic() - started > 1.0
    assert receiver.bodies[0]["received"] == 200_000


async def test_upstream_that_ignores_expect_gets_a_504_not_a_hang(
    aiohttp_server: ServerFactory,
) -> None:
    """An upstream that neither sends 100 Continue nor answers is given up on."""
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # waits for a body that is never sent

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings(
        upstream=(f"http://127.0.0.1:{port}",), health_check_interval=0.0, upstream_timeout=0.5
    )
    edge = await aiohttp_server(create_app(settings))
    try:
        reader, writer = await _open(edge)
        writer.write(_head(edge, 1000, expect=True))
        await writer.drain()
        async with asyncio.timeout(10):
            raw, body = await _read_response(reader)
        writer.close()
        assert parse_response(raw).status == 504
        assert json.loads(body)["error"]["code"] == "gateway_timeout"
    finally:
        for connection in connections:
            connection.close()
        server.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_client_leaving_mid_upload_cuts_the_upstream_body(
    aiohttp_server: ServerFactory, chunked: bool
) -> None:
    """The upstream must see a broken body, never a complete short one."""
    receiver, edge = await _setup(aiohttp_server)
    _reader, writer = await _open(edge)
    piece = b"p" * 100_000
    if chunked:
        writer.write(_head(edge, None, expect=False, chunked=True))
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    else:
        writer.write(_head(edge, LIMIT, expect=False) + piece)
    await writer.drain()
    for _ in range(200):
        if receiver.bodies and receiver.bodies[0]["received"] >= len(piece):
            break
        await asyncio.sleep(0.02)
    writer.transport.abort()
    async with asyncio.timeout(10):
        await receiver.ended.wait()
    assert receiver.bodies[0]["received"] == len(piece)
    assert receiver.bodies[0]["error"] is not None
