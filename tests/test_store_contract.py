"""The ObjectStore contract, run unchanged against the local directory and real S3 (SeaweedFS)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from vodstack.settings import Settings
from vodstack.store import ObjectNotFound, ObjectStore, ObjectTooLarge
from vodstack.store.local import LocalStore
from vodstack.store.s3 import S3Store

MiB = 1024 * 1024
TEST_PART_SIZE = 5 * MiB
"""S3's smallest part, so a test stream of a few parts is already multipart."""

StoreFactory = Callable[[], Awaitable[ObjectStore]]


@pytest.fixture(params=["local", "s3"])
async def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Factory of started stores that all see the same objects (same directory / bucket)."""
    opened: list[ObjectStore] = []
    if request.param == "s3":
        s3_server = request.getfixturevalue("s3_server")
        url = request.getfixturevalue("s3_store_url")
        settings = Settings(
            store=url,
            s3_access_key_id=s3_server.access_key,
            s3_secret_access_key=s3_server.secret_key,
            store_timeout=10.0,
        )

    async def make() -> ObjectStore:
        store: ObjectStore
        if request.param == "s3":
            s3 = S3Store.from_url(url, settings)
            s3.part_size = TEST_PART_SIZE
            s3.page_size = 7  # several listing pages and delete batches from a few objects
            store = s3
        else:
            store = LocalStore(tmp_path / "store")
        await store.start()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> ObjectStore:
    return await make_store()


def leftovers(directory: Path) -> list[str]:
    """Partial download files (or a download that should not exist) left in `directory`."""
    return [path.name for path in directory.iterdir() if path.name.endswith((".part", "out"))]


def quoted_md5(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def read_stream(
    store: ObjectStore, key: str, offset: int = 0, length: int | None = None
) -> bytes:
    stream = await store.open(key, offset, length)
    try:
        return b"".join([chunk async for chunk in stream])
    finally:
        await stream.aclose()


# -- put / head / read -----------------------------------------------------------------------


async def test_put_bytes_round_trips_body_and_metadata(store: ObjectStore) -> None:
    body = b"#EXTM3U\n#EXT-X-ENDLIST\n"
    put = await store.put_bytes(
        "videos/abc/master.m3u8", body,
        content_type="application/vnd.apple.mpegurl", cache_control="public, max-age=60",
    )
    head = await store.head("videos/abc/master.m3u8")

    assert await store.read("videos/abc/master.m3u8") == body
    assert put.size == head.size == len(body)
    assert put.etag == head.etag == quoted_md5(body)
    assert head.content_type == "application/vnd.apple.mpegurl"
    assert head.cache_control == "public, max-age=60"
    assert abs(head.last_modified - put.last_modified) < 5


async def test_object_without_cache_control_has_none(store: ObjectStore) -> None:
    await store.put_bytes("a/b.bin", b"x", content_type="application/octet-stream")
    info = await store.head("a/b.bin")
    assert info.cache_control is None
    assert info.content_type == "application/octet-stream"


async def test_overwrite_replaces_body_and_etag(store: ObjectStore) -> None:
    first = await store.put_bytes("a/key", b"one", content_type="text/plain")
    second = await store.put_bytes("a/key", b"two!", content_type="text/plain")
    assert await store.read("a/key") == b"two!"
    assert first.etag != second.etag
    assert (await store.head("a/key")).size == 4


async def test_empty_object(store: ObjectStore) -> None:
    await store.put_bytes("a/empty", b"", content_type="text/plain")
    assert await store.read("a/empty") == b""
    assert (await store.head("a/empty")).size == 0
    assert await read_stream(store, "a/empty") == b""


async def test_etag_and_dates_identical_from_independent_instances(
    make_store: StoreFactory,
) -> None:
    writer, reader = await make_store(), await make_store()
    await writer.put_bytes("videos/x/1.m4s", os.urandom(4096), content_type="video/iso.segment")
    seen_by_writer = await writer.head("videos/x/1.m4s")
    seen_by_reader = await reader.head("videos/x/1.m4s")
    assert seen_by_reader == seen_by_writer
    stream = await reader.open("videos/x/1.m4s")
    await stream.aclose()
    assert stream.info.etag == seen_by_writer.etag


# -- ranged and streamed reads ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, slice(0, None)),
        (10, None, slice(10, None)),
        (0, 1, slice(0, 1)),
        (100, 50, slice(100, 150)),
        (999_990, 100, slice(999_990, None)),  # runs past the end: clipped
        (1_000_000, None, slice(0, 0)),  # at the end: empty
        (2_000_000, 10, slice(0, 0)),  # beyond the end: empty
        (5, 0, slice(0, 0)),
    ],
)
async def test_open_reads_the_requested_range(
    store: ObjectStore, offset: int, length: int | None, expected: slice
) -> None:
    body = os.urandom(1_000_000)
    await store.put_bytes("r/obj", body, content_type="video/mp4", cache_control="immutable")
    stream = await store.open("r/obj", offset, length)
    try:
        assert stream.info.size == len(body)  # the whole object's size, not the range's
        assert stream.info.etag == quoted_md5(body)
        assert stream.info.content_type == "video/mp4"
        assert stream.info.cache_control == "immutable"
        got = b"".join([chunk async for chunk in stream])
    finally:
        await stream.aclose()
    assert got == body[expected]


async def test_streams_come_in_several_chunks(store: ObjectStore) -> None:
    body = os.urandom(3 * MiB)
    await store.put_bytes("r/big", body, content_type="video/mp4")
    stream = await store.open("r/big")
    sizes = [len(chunk) async for chunk in stream]
    assert sum(sizes) == len(body)
    assert len(sizes) > 1 and max(sizes) <= MiB


async def test_closing_streams_early_releases_them(store: ObjectStore) -> None:
    """More abandoned streams than the S3 connection pool holds: each aclose gave one back."""
    await store.put_bytes("r/obj", os.urandom(2 * MiB), content_type="video/mp4")
    for _ in range(40):
        stream = await store.open("r/obj", 0, 2 * MiB)
        async for _chunk in stream:
            break
        await stream.aclose()
    assert len(await store.read("r/obj")) == 2 * MiB


# -- missing and invalid keys ---------------------------------------------------------------


async def test_missing_object_is_object_not_found_everywhere(
    store: ObjectStore, tmp_path: Path
) -> None:
    with pytest.raises(ObjectNotFound):
        await store.head("nope/missing")
    with pytest.raises(ObjectNotFound):
        await store.open("nope/missing")
    with pytest.raises(ObjectNotFound):
        await store.open("nope/missing", 10, 10)
    with pytest.raises(ObjectNotFound):
        await store.read("nope/missing")
    with pytest.raises(ObjectNotFound):
        await store.download("nope/missing", tmp_path / "out")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", "a/", ".hidden"])
async def test_invalid_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectNotFound):
        await store.head(key)
    with pytest.raises(ObjectNotFound):
        await store.read(key)
    with pytest.raises(ValueError):
        await store.put_bytes(key, b"x", content_type="text/plain")


# -- listing and deleting --------------------------------------------------------------------


async def test_list_returns_every_object_under_a_prefix_in_key_order(store: ObjectStore) -> None:
    keys = [f"videos/v1/720p/{n:03d}.m4s" for n in range(20)] + ["videos/v1/master.m3u8"]
    for key in keys:
        await store.put_bytes(key, key.encode(), content_type="video/iso.segment")
    await store.put_bytes("videos/v10/master.m3u8", b"other", content_type="text/plain")

    listed = [info async for info in store.list("videos/v1/")]

    assert [info.key for info in listed] == sorted(keys)
    assert all(info.size == len(info.key) for info in listed)
    assert all(info.etag == quoted_md5(info.key.encode()) for info in listed)
    assert [info.key async for info in store.list("videos/v1/720p/00")] == sorted(keys)[:10]
    assert [info.key async for info in store.list("videos/none/")] == []
    assert len([info async for info in store.list("")]) == len(keys) + 1


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.put_bytes("d/one", b"1", content_type="text/plain")
    await store.delete("d/one")
    await store.delete("d/one")
    await store.delete("d/never-existed")
    with pytest.raises(ObjectNotFound):
        await store.head("d/one")


async def test_delete_prefix_removes_only_that_prefix(store: ObjectStore) -> None:
    for n in range(17):
        await store.put_bytes(f"videos/gone/{n}.ts", b"x", content_type="video/mp2t")
    await store.put_bytes("videos/gone-not/keep.ts", b"k", content_type="video/mp2t")
    await store.put_bytes("uploads/gone/source", b"k", content_type="video/mp4")

    assert await store.delete_prefix("videos/gone/") == 17
    assert [info.key async for info in store.list("videos/")] == ["videos/gone-not/keep.ts"]
    assert await store.read("uploads/gone/source") == b"k"
    assert await store.delete_prefix("videos/gone/") == 0


async def test_delete_prefix_refuses_the_empty_prefix(store: ObjectStore) -> None:
    await store.put_bytes("keep/me", b"1", content_type="text/plain")
    with pytest.raises(ValueError):
        await store.delete_prefix("")
    assert await store.read("keep/me") == b"1"


# -- streamed and file puts ------------------------------------------------------------------


async def test_put_stream_of_30_mb_keeps_memory_bounded(store: ObjectStore) -> None:
    block = os.urandom(64 * 1024)
    total = 30 * 1000 * 1000
    digest = hashlib.sha256()

    async def source() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = block[: min(len(block), total - sent)]
            sent += len(piece)
            digest.update(piece)
            yield piece

    tracemalloc.start()
    try:
        info = await store.put_stream("uploads/big/source", source(), content_type="video/mp4")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert info.size == total
    assert (await store.head("uploads/big/source")).etag == info.etag
    # At most two parts in memory (S3) or a write buffer (local), never the whole 30 MB.
    assert peak < 3 * TEST_PART_SIZE, f"peak {peak / MiB:.1f} MiB"
    read_back = hashlib.sha256()
    stream = await store.open("uploads/big/source")
    async for chunk in stream:
        read_back.update(chunk)
    assert read_back.digest() == digest.digest()


async def test_put_stream_small_body(store: ObjectStore) -> None:
    info = await store.put_stream(
        "a/small", chunks_of(b"hello world", 3), content_type="text/plain", cache_control="no-cache"
    )
    assert await store.read("a/small") == b"hello world"
    assert info.etag == (await store.head("a/small")).etag
    assert (await store.head("a/small")).cache_control == "no-cache"


async def test_put_stream_over_max_size_stores_nothing(store: ObjectStore) -> None:
    body = os.urandom(13 * MiB)  # several S3 parts are sent before the limit is hit
    with pytest.raises(ObjectTooLarge):
        await store.put_stream(
            "uploads/huge/source", chunks_of(body, MiB), content_type="video/mp4",
            max_size=12 * MiB,
        )
    with pytest.raises(ObjectNotFound):
        await store.head("uploads/huge/source")
    assert [info.key async for info in store.list("uploads/")] == []
    await assert_no_incomplete_uploads(store)


async def test_put_stream_failing_source_stores_nothing(store: ObjectStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield os.urandom(MiB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream("uploads/cut/source", broken(), content_type="video/mp4")
    with pytest.raises(ObjectNotFound):
        await store.head("uploads/cut/source")
    await assert_no_incomplete_uploads(store)


async def test_cancelled_put_stream_stores_nothing(store: ObjectStore) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for _ in range(7):
            yield os.urandom(MiB)
        started.set()
        await asyncio.sleep(60)
        yield b"never"

    task = asyncio.create_task(
        store.put_stream("uploads/cancel/source", slow(), content_type="video/mp4")
    )
    await asyncio.wait_for(started.wait(), 30)
    await asyncio.sleep(0.5)  # let the first part's upload finish
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ObjectNotFound):
        await store.head("uploads/cancel/source")
    await assert_no_incomplete_uploads(store)


async def assert_no_incomplete_uploads(store: ObjectStore) -> None:
    if isinstance(store, S3Store):
        listing = await store._call("list uploads", "list_multipart_uploads", Bucket=store.bucket)
        assert listing.get("Uploads", []) == []
    elif isinstance(store, LocalStore):
        assert list(store.tmp_root.iterdir()) == []


async def test_put_file_and_download_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    body = os.urandom(11 * MiB + 123)  # more than two S3 parts, odd tail
    source.write_bytes(body)

    info = await store.put_file(
        "uploads/f/source", source, content_type="video/mp4", cache_control="private"
    )
    target = tmp_path / "out.mp4"
    await store.download("uploads/f/source", target)

    assert target.read_bytes() == body
    assert info.size == len(body)
    head = await store.head("uploads/f/source")
    assert head.etag == info.etag
    assert (head.content_type, head.cache_control) == ("video/mp4", "private")
    assert leftovers(tmp_path) == []  # the download's temp file is gone


async def test_local_path_only_for_local_directories(store: ObjectStore) -> None:
    await store.put_bytes("a/b", b"x", content_type="text/plain")
    path = store.local_path("a/b")
    if isinstance(store, LocalStore):
        assert path is not None and path.read_bytes() == b"x"
    else:
        assert path is None


async def test_check_passes_on_a_started_store(store: ObjectStore) -> None:
    await store.check()
