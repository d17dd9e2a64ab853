"""Size limits on what clients send: header lines and counts, JSON bodies, tus metadata."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.security import tus
from tests.support.ingest_server import running_ingest
from tests.support.processes import VodstackProcess
from vodstack.catalog import Video
from vodstack.settings import Settings


async def raw_status(host: str, port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return line


@pytest.mark.slow
async def test_oversized_headers_are_refused_and_the_server_carries_on(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    server = await asyncio.to_thread(
        start_vodstack, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0",
        "--worker-concurrency", "0",
    )
    parts = urlsplit(server.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 0
    long_field = b"GET /v1/videos HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    assert (await raw_status(host, port, long_field)).split()[1] in {b"400", b"431"}
    many = b"GET /v1/videos HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-H{i}: 1\r\n".encode() for i in range(150)
    ) + b"\r\n"
    assert (await raw_status(host, port, many)).split()[1] in {b"400", b"431"}
    long_line = b"GET /v1/videos?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert (await raw_status(host, port, long_line)).split()[1] in {b"400", b"414"}
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as response:
        assert response.status == 200
    assert server.alive()


async def test_json_bodies_and_tus_metadata_are_small(tmp_path: Path) -> None:
    async with running_ingest(Settings(data_dir=tmp_path / "d").validate()) as server:
        await server.catalog.create(Video(id="AbCdEfGhIjKlMnOp", title="t"))
        async with aiohttp.ClientSession() as http:
            url = f"{server.url}/v1/videos/AbCdEfGhIjKlMnOp"
            big = b'{"title": "' + b"x" * 20_000 + b'"}'
            answer = await tus.send(http, "PATCH", url, data=big)
            assert answer.status == 413 and b"payload_too_large" in answer.body

            async def chunked() -> AsyncIterator[bytes]:
                for _ in range(40):
                    yield b" " * 1000

            answer = await tus.send(http, "PATCH", url, data=chunked())
            assert answer.status == 413
            answer = await tus.send(http, "PATCH", url, json={"title": "fine"})
            assert answer.status == 200
            metadata = tus.metadata(filename="a" * 4000)
            answer = await tus.send(
                http, "POST", f"{server.url}/v1/uploads",
                headers={**tus.TUS, "Upload-Length": "10", "Upload-Metadata": metadata},
            )
            assert answer.status == 400
