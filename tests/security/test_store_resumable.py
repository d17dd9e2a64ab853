"""The resumable half of the ObjectStore contract, unchanged on the local store and real S3."""

from __future__ import annotations

import hashlib
import itertools
import os
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from tests.security.conftest import StoreKit
from vodstack.store import ObjectNotFound, ResumableUpload

MiB = 1024 * 1024
KEY = "uploads/resumable0000001/source"


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


class Broken(Exception):
    pass


async def then_fail(data: bytes, size: int) -> AsyncIterator[bytes]:
    async for piece in pieces(data, size):
        yield piece
    raise Broken("the client went away mid-chunk (with a checksum: nothing may be kept)")


async def test_appends_of_any_size_make_one_object(store_kit: StoreKit) -> None:
    store = await store_kit.make()
    data = os.urandom(13 * MiB + 12345)
    upload = await store.start_resumable(KEY, content_type="video/mp4", size_hint=len(data))
    # 1 MiB PATCHes like tuspy, one odd small one, one spanning two S3 parts, the rest.
    cuts = [0, MiB, 2 * MiB, 2 * MiB + 777, 3 * MiB, 12 * MiB, len(data)]
    for start, end in itertools.pairwise(cuts):
        upload = await store.append_resumable(upload, pieces(data[start:end], 64 * 1024))
        assert upload.offset == end
    info = await store.finish_resumable(upload)
    assert info.size == len(data)
    assert info.etag.startswith('"') and info.etag.endswith('"')
    assert await store.read(KEY) == data
    assert (await store.head(KEY)).content_type == "video/mp4"


async def test_a_failed_append_keeps_nothing_and_the_old_state_continues(
    store_kit: StoreKit,
) -> None:
    store = await store_kit.make()
    data = os.urandom(11 * MiB)
    upload = await store.start_resumable(KEY, content_type="video/mp4", size_hint=len(data))
    upload = await store.append_resumable(upload, pieces(data[:3 * MiB], MiB))
    with pytest.raises(Broken):
        # Crosses a part boundary (S3 sends a part) before failing: still nothing kept.
        await store.append_resumable(upload, then_fail(os.urandom(6 * MiB), MiB))
    upload = await store.append_resumable(upload, pieces(data[3 * MiB:], 300_000))
    await store.finish_resumable(upload)
    assert hashlib.sha256(await store.read(KEY)).digest() == hashlib.sha256(data).digest()


async def test_another_instance_continues_from_the_recorded_state(store_kit: StoreKit) -> None:
    first, second = await store_kit.make(), await store_kit.make()
    data = os.urandom(6 * MiB + 5)
    upload = await first.start_resumable(KEY, content_type="video/mp4", size_hint=None)
    upload = await first.append_resumable(upload, pieces(data[:MiB], MiB))
    recorded = ResumableUpload.from_dict(upload.to_dict())  # through the catalogue as JSON
    upload = await second.append_resumable(recorded, pieces(data[MiB:], MiB))
    await second.finish_resumable(upload)
    assert await first.read(KEY) == data


async def test_finishing_twice_gives_the_same_object(store_kit: StoreKit) -> None:
    store = await store_kit.make()
    upload = await store.start_resumable(KEY, content_type="video/mp4", size_hint=100)
    upload = await store.append_resumable(upload, pieces(b"x" * 100, 7))
    info = await store.finish_resumable(upload)
    again = await store.finish_resumable(upload)
    assert (again.size, again.etag) == (info.size, info.etag)
    assert [i.key async for i in store.list("uploads/resumable0000001/")] == [KEY]


async def test_abort_removes_every_piece(store_kit: StoreKit) -> None:
    store = await store_kit.make()
    upload = await store.start_resumable(KEY, content_type="video/mp4", size_hint=None)
    upload = await store.append_resumable(upload, pieces(os.urandom(7 * MiB), MiB))
    await store.abort_resumable(upload)
    await store.abort_resumable(upload)  # twice is fine
    assert [i.key async for i in store.list("uploads/")] == []
    if store_kit.kind == "s3":
        assert store_kit.multipart_uploads() == []
    else:
        assert store_kit.resumable_files() == []
    with pytest.raises(ObjectNotFound):
        await store.append_resumable(upload, pieces(b"more", 4))
    with pytest.raises(ObjectNotFound):
        await store.finish_resumable(upload)


async def test_staging_leaves_at_most_two_tails_and_none_when_finished(
    store_kit: StoreKit,
) -> None:
    store = await store_kit.make()
    upload = await store.start_resumable(KEY, content_type="video/mp4", size_hint=None)
    for _ in range(4):
        upload = await store.append_resumable(upload, pieces(os.urandom(300_000), 65536))
    keys = [i.key async for i in store.list("uploads/")]
    assert len(keys) <= 2, keys
    await store.finish_resumable(upload)
    assert [i.key async for i in store.list("uploads/")] == [KEY]


async def test_memory_stays_near_two_parts_whatever_the_chunk_size(store_kit: StoreKit) -> None:
    store = await store_kit.make()
    total = 24 * MiB
    block = os.urandom(MiB)

    async def small_chunks() -> AsyncIterator[bytes]:
        for _ in range(total // (16 * 1024)):
            yield block[:16 * 1024]

    upload = await store.start_resumable(KEY, content_type="video/mp4", size_hint=total)
    tracemalloc.start()
    try:
        upload = await store.append_resumable(upload, small_chunks())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert upload.offset == total
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB for a {total // MiB} MiB append"
    await store.abort_resumable(upload)
