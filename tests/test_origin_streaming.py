"""Bodies are streamed from the store: big objects, ranges deep inside, clients that leave."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.origin_server import (
    SERVERS,
    VIDEO_ID,
    RunningOrigin,
    origin_app_with_store,
    origin_settings,
    running,
    running_origin,
)
from vodstack.store import ObjectInfo

BIG = f"videos/{VIDEO_ID}/v1/1080p/0.m4s"
BIG_SIZE = 24 * 1024 * 1024 + 123


@pytest.fixture(params=SERVERS)
async def origin(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RunningOrigin]:
    async with running_origin(tmp_path, server=request.param) as running:
        yield running


async def put_big(origin: RunningOrigin) -> str:
    """A big object of pseudo-random bytes (streamed in, never held whole); its MD5."""
    digest = hashlib.md5()

    async def chunks() -> AsyncIterator[bytes]:
        block = os.urandom(1024 * 1024)
        remaining = BIG_SIZE
        while remaining:
            part = block[: min(len(block), remaining)]
            digest.update(part)
            remaining -= len(part)
            yield part

    await origin.store.put_stream(BIG, chunks(), content_type="video/iso.segment")
    return digest.hexdigest()


def read_at(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def open_fds_to(path: Path) -> list[str]:
    """File descriptors of this process (the origin runs in it) open on `path`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == str(path):
            found.append(fd)
    return found


async def test_big_object_streams_whole_and_by_range(origin: RunningOrigin) -> None:
    md5 = await put_big(origin)
    url = origin.url + "/v/" + BIG.removeprefix("videos/")
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == str(BIG_SIZE)
            digest = hashlib.md5()
            async for chunk in response.content.iter_chunked(256 * 1024):
                digest.update(chunk)
        assert digest.hexdigest() == md5
        assert response.headers["ETag"] == f'"{md5}"'

        start = 17 * 1024 * 1024 + 5
        async with http.get(url, headers={"Range": f"bytes={start}-{start + 99_999}"}) as partial:
            assert partial.status == 206
            body = await partial.read()
    data_path = origin.store.local_path(BIG)
    assert data_path is not None
    assert body == await asyncio.to_thread(read_at, data_path, start, 100_000)


async def test_client_leaving_mid_body_closes_the_store_stream_quietly(
    origin: RunningOrigin, caplog: pytest.LogCaptureFixture
) -> None:
    """Each response holds the open file while it sends; the origin's open-file cache keeps
    one descriptor for the next request, and closes it when the origin stops."""
    await put_big(origin)
    data_path = origin.store.local_path(BIG)
    assert data_path is not None
    caplog.set_level(logging.DEBUG)
    target = "/v/" + BIG.removeprefix("videos/")
    for _ in range(3):
        reader, writer = await asyncio.open_connection(origin.host, origin.port)
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        received = await reader.read(64 * 1024)
        assert received.startswith(b"HTTP/1.1 200")
        assert open_fds_to(data_path), "the body should be streaming from the open file"
        writer.transport.abort()  # RST: gone without reading the rest

    async with asyncio.timeout(10):
        while len(open_fds_to(data_path)) > 1:  # noqa: ASYNC110 - polling /proc
            await asyncio.sleep(0.05)
    assert len(open_fds_to(data_path)) == 1  # the open-file cache's own

    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]
    # ...and the origin still serves.
    async with aiohttp.ClientSession() as http, http.head(origin.url + target) as response:
        assert response.status == 200
    await origin.runner.cleanup()
    assert open_fds_to(data_path) == []


class ReplacingStore:
    """The real store, except the first head() is answered and then the object replaced:
    the race of a master playlist re-published between a request's head and its read."""

    def __init__(self, inner: object, new_data: bytes) -> None:
        self.inner = inner
        self.new_data = new_data
        self.replaced = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def head(self, key: str) -> ObjectInfo:
        info: ObjectInfo = await self.inner.head(key)  # type: ignore[attr-defined]
        if not self.replaced:
            self.replaced = True
            await asyncio.sleep(0.01)  # a distinct mtime on coarse filesystems
            await self.inner.put_bytes(  # type: ignore[attr-defined]
                key, self.new_data, content_type="application/vnd.apple.mpegurl"
            )
        return info


async def test_object_replaced_between_head_and_read_is_served_consistently(
    origin: RunningOrigin, tmp_path: Path
) -> None:
    """A conditional request resolves the object (HEAD) before reading it; a plain GET
    reads the metadata from the GET itself and cannot meet this race."""
    key = f"videos/{VIDEO_ID}/master.m3u8"
    await origin.store.put_bytes(key, b"#EXTM3U\n#old\n", content_type="x")
    new = b"#EXTM3U\n#new version, longer\n"
    replacing = ReplacingStore(origin.store, new)
    app = origin_app_with_store(origin_settings(tmp_path), replacing)  # type: ignore[arg-type]
    async with (
        running(app, tmp_path / "store") as served,
        aiohttp.ClientSession() as http,
        http.get(
            served.url + f"/v/{VIDEO_ID}/master.m3u8", headers={"If-None-Match": '"other"'}
        ) as r,
    ):
        body = await r.read()
        etag = r.headers["ETag"]
        length = r.headers["Content-Length"]
    assert replacing.replaced
    assert body == new
    assert etag == f'"{hashlib.md5(new).hexdigest()}"'
    assert length == str(len(new))
