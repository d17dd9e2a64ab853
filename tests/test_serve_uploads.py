"""Uploads through `vodstack serve`'s edge (a real process): streamed in bounded memory,
never cut by the upstream timeout, refused at once when declared too large, and a client
that leaves mid-upload leaves nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.support.processes import VodstackProcess
from tests.support.rawhttp import parse_response
from tests.support.rss import peak_baseline, status_bytes
from tests.upload.helpers import payload
from vodstack import keys
from vodstack.store.local import LocalStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MiB = 1024 * 1024
BODY_SIZE = 200 * MiB
MAX_GROWTH = 40 * MiB
LIMIT = 20 * MiB


def _serve(
    start_vodstack: Callable[..., VodstackProcess], data_dir: Path, *flags: str
) -> VodstackProcess:
    return start_vodstack(
        "serve", "--data-dir", str(data_dir), "--port", "0", "--worker-concurrency", "0", *flags
    )


async def _body(size: int, digest: hashlib._Hash, pause: float = 0.0) -> AsyncIterator[bytes]:
    block = payload(MiB, seed=5)
    sent = 0
    while sent < size:
        part = block[: min(len(block), size - sent)]
        digest.update(part)
        sent += len(part)
        yield part
        if pause:
            await asyncio.sleep(pause)


async def _stored(data_dir: Path) -> list[str]:
    store = LocalStore(data_dir / "store")
    await store.start()
    try:
        return [info.key async for info in store.list("uploads/")]
    finally:
        await store.close()


async def _video_count(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url + "/v1/videos") as response:
        return len((await response.json())["videos"])


def _address(server: VodstackProcess) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


async def test_200_mb_upload_through_the_edge_in_bounded_memory(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = _serve(start_vodstack, data_dir)
    pid = server.proc.pid
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url + "/v1/videos", data=b"warm-up") as response:
            assert response.status == 201
        baseline = peak_baseline(pid)
        digest = hashlib.md5(usedforsecurity=False)
        async with http.post(
            server.url + "/v1/videos",
            data=_body(BODY_SIZE, digest),
            headers={"Content-Length": str(BODY_SIZE)},
            timeout=aiohttp.ClientTimeout(total=300),
        ) as response:
            assert response.status == 201, await response.text()
            assert response.headers["X-Cache"] == "BYPASS"
            video_id = (await response.json())["id"]
    growth = status_bytes(pid, "VmHWM") - baseline
    print(f"serve peak RSS growth during a {BODY_SIZE // MiB} MiB upload: {growth / MiB:.1f} MiB")
    assert growth < MAX_GROWTH, f"server RSS grew by {growth / MiB:.1f} MiB"
    info = await LocalStore(data_dir / "store").head(keys.source_key(video_id))
    assert info.size == BODY_SIZE
    assert info.etag == f'"{digest.hexdigest()}"'


async def test_a_slow_upload_is_not_cut_by_the_upstream_timeout(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    server = _serve(start_vodstack, tmp_path / "data", "--upstream-timeout", "1s")
    digest = hashlib.md5(usedforsecurity=False)
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.post(
        server.url + "/v1/videos",
        data=_body(4 * MiB, digest, pause=0.75),
        headers={"Content-Length": str(4 * MiB)},
    ) as response:
        assert response.status == 201, await response.text()
    assert time.monotonic() - started > 2.0  # twice the upstream timeout, and more


async def test_too_large_declared_upload_is_refused_at_once(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = _serve(start_vodstack, data_dir, "--max-upload-size", str(LIMIT))
    host, port = _address(server)
    head = (
        f"POST /v1/videos HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Length: {10 * LIMIT}\r\nContent-Type: application/octet-stream\r\n"
    )
    for expect in (True, False):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            if expect:  # the client waits: not one body byte is sent, no 100 comes back
                writer.write((head + "Expect: 100-continue\r\n\r\n").encode())
            else:  # the client just sends: refused from the declared length, mid-body
                writer.write((head + "\r\n").encode() + b"x" * MiB)
            await writer.drain()
            async with asyncio.timeout(10):
                raw = await reader.readuntil(b"\r\n\r\n")
                response = parse_response(raw)
                body = await reader.readexactly(int(response.headers["content-length"]))
        finally:
            writer.transport.abort()
        assert response.status == 413 and not raw.startswith(b"HTTP/1.1 100")
        assert json.loads(body)["error"]["code"] == "payload_too_large"
        assert response.headers["x-cache"] == "BYPASS"
    assert await _stored(data_dir) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_client_leaving_mid_upload_leaves_nothing(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path, chunked: bool
) -> None:
    data_dir = tmp_path / "data"
    server = _serve(start_vodstack, data_dir)
    host, port = _address(server)
    _reader, writer = await asyncio.open_connection(host, port)
    piece = payload(4 * MiB)
    head = f"POST /v1/videos HTTP/1.1\r\nHost: {host}:{port}\r\n"
    if chunked:
        writer.write((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    else:
        writer.write((head + f"Content-Length: {50 * MiB}\r\n\r\n").encode() + piece)
    await writer.drain()
    await asyncio.sleep(1.0)
    writer.transport.abort()
    async with aiohttp.ClientSession() as http:
        await asyncio.sleep(1.0)
        assert await _video_count(http, server.url) == 0
        assert await _stored(data_dir) == []
        temp = data_dir / "store" / "tmp"
        assert not temp.exists() or not any(temp.iterdir())
        # The stack is fine afterwards.
        async with http.post(server.url + "/v1/videos", data=b"next") as response:
            assert response.status == 201
        assert await _video_count(http, server.url) == 1
