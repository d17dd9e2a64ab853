"""A store that is gone or does not answer: 503 + Retry-After within the store timeout."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.origin_server import (
    VIDEO_ID,
    origin_app_with_store,
    origin_settings,
    running,
    running_origin,
)
from tests.support.rawhttp import raw_request
from vodstack.store import ObjectInfo, ObjectStream
from vodstack.store.local import LocalStore

TIMEOUT = 0.5
MARGIN = 1.5
MASTER = f"videos/{VIDEO_ID}/master.m3u8"
SEGMENT = f"videos/{VIDEO_ID}/v1/720p/0.m4s"


async def assert_unavailable(url: str, headers: dict[str, str] | None = None) -> None:
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        elapsed = time.monotonic() - started
        assert response.status == 503
        assert int(response.headers["Retry-After"]) > 0
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert (await response.json())["error"]["code"] == "store_unavailable"
    assert elapsed < TIMEOUT + MARGIN


async def test_removed_store_directory_is_503(tmp_path: Path) -> None:
    async with running_origin(tmp_path, store_timeout=TIMEOUT) as origin:
        await origin.store.put_bytes(MASTER, b"#EXTM3U\n", content_type="x")
        shutil.rmtree(origin.store_dir)
        await assert_unavailable(origin.url + f"/v/{VIDEO_ID}/master.m3u8")
        await assert_unavailable(origin.url + f"/v/{VIDEO_ID}/never-there.m3u8")


async def test_store_data_directory_replaced_by_a_file_is_503(tmp_path: Path) -> None:
    """An unreadable store (chmod cannot cause one when the tests run as root)."""
    async with running_origin(tmp_path, store_timeout=TIMEOUT) as origin:
        await origin.store.put_bytes(MASTER, b"#EXTM3U\n", content_type="x")
        shutil.rmtree(origin.store_dir / "data")
        (origin.store_dir / "data").write_bytes(b"not a directory")
        await assert_unavailable(origin.url + f"/v/{VIDEO_ID}/master.m3u8")


async def test_store_that_comes_back_is_served_again(tmp_path: Path) -> None:
    async with running_origin(tmp_path, store_timeout=TIMEOUT) as origin:
        await origin.store.put_bytes(MASTER, b"#EXTM3U\n", content_type="x")
        moved = tmp_path / "moved"
        origin.store_dir.rename(moved)
        await assert_unavailable(origin.url + f"/v/{VIDEO_ID}/master.m3u8")
        moved.rename(origin.store_dir)
        async with (
            aiohttp.ClientSession() as http,
            http.get(origin.url + f"/v/{VIDEO_ID}/master.m3u8") as response,
        ):
            assert response.status == 200


class HangingStream:
    """Gives the first chunk of the real stream, then never another."""

    def __init__(self, inner: ObjectStream) -> None:
        self.inner = inner
        self.info = inner.info
        self.closed = False
        self._first = True

    def __aiter__(self) -> HangingStream:
        return self

    async def __anext__(self) -> bytes:
        if self._first:
            self._first = False
            return await anext(aiter(self.inner))
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        self.closed = True
        await self.inner.aclose()


class HangingStore:
    """The real LocalStore, except one call never answers: the fault of a store that
    accepts the connection and then goes silent, which a local directory cannot produce."""

    def __init__(self, inner: LocalStore, hang_in: str) -> None:
        self.inner = inner
        self.hang_in = hang_in
        self.streams: list[HangingStream] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def head(self, key: str) -> ObjectInfo:
        if self.hang_in == "head":
            await asyncio.Event().wait()
        return await self.inner.head(key)

    async def open(self, key: str, offset: int = 0, length: int | None = None) -> ObjectStream:
        if self.hang_in == "open":
            await asyncio.Event().wait()
        stream = await self.inner.open(key, offset, length)
        if self.hang_in == "body":
            hanging = HangingStream(stream)
            self.streams.append(hanging)
            return hanging
        return stream


@pytest.fixture
async def hanging(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, HangingStore]]:
    local = LocalStore(tmp_path / "store", fsync=False)
    await local.start()
    await local.put_bytes(MASTER, b"#EXTM3U\n", content_type="x")
    await local.put_bytes(SEGMENT, b"s" * 3_000_000, content_type="x")
    store = HangingStore(local, request.param)
    settings = origin_settings(tmp_path, store_timeout=TIMEOUT)
    app = origin_app_with_store(settings, store)  # type: ignore[arg-type]
    async with running(app, tmp_path / "store") as origin:
        yield origin.url, store


@pytest.mark.parametrize("hanging", ["head", "open"], indirect=True)
async def test_store_that_does_not_answer_is_503_within_the_timeout(
    hanging: tuple[str, HangingStore],
) -> None:
    """Both requests need the object's metadata and its bytes (a plain GET of a remote
    object skips the HEAD: see test_origin_s3)."""
    url, _store = hanging
    await assert_unavailable(url + f"/v/{VIDEO_ID}/master.m3u8", {"If-None-Match": '"x"'})
    await assert_unavailable(url + f"/v/{VIDEO_ID}/v1/720p/0.m4s", {"Range": "bytes=10-20"})


@pytest.mark.parametrize("hanging", ["head"], indirect=True)
async def test_conditional_and_head_requests_are_bounded_too(
    hanging: tuple[str, HangingStore],
) -> None:
    url, _store = hanging
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    raw = await raw_request(host, int(port), "HEAD", f"/v/{VIDEO_ID}/master.m3u8")
    assert raw.status == 503 and raw.headers["retry-after"]
    await assert_unavailable(url + f"/v/{VIDEO_ID}/master.m3u8", {"If-None-Match": '"x"'})
    assert time.monotonic() - started < 2 * (TIMEOUT + MARGIN)


@pytest.mark.parametrize("hanging", ["body"], indirect=True)
async def test_store_going_silent_mid_body_ends_the_response_within_the_timeout(
    hanging: tuple[str, HangingStore],
) -> None:
    """Headers are sent by then, so the only honest signal left is closing the connection
    before Content-Length bytes: the client sees a truncated body, never a hang."""
    url, store = hanging
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        async with http.get(url + f"/v/{VIDEO_ID}/v1/720p/0.m4s") as response:
            assert response.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        assert time.monotonic() - started < TIMEOUT + MARGIN
        assert store.streams and all(stream.closed for stream in store.streams)
        # The origin keeps serving other requests.
        async with http.get(url + f"/v/{VIDEO_ID}/master.m3u8") as response:
            assert response.status == 200
