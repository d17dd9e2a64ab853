"""The Catalog contract, run unchanged against SqliteCatalog and RedisCatalog (real Redis)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.backends import CatalogFactory
from vodstack.catalog import Catalog, Rendition, Video, VideoStatus

RENDITION = Rendition(
    name="720p", width=1280, height=720, bandwidth=3_000_000, average_bandwidth=2_500_000,
    codecs="avc1.64001f,mp4a.40.2", frame_rate=30.0,
)


async def all_pages(
    catalog: Catalog, *, status: VideoStatus | None = None, limit: int
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        videos, cursor = await catalog.list(status=status, limit=limit, cursor=cursor)
        pages.append([video.id for video in videos])
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not end"


# -- records -------------------------------------------------------------------------------


async def test_create_then_get_round_trips_every_field(catalog: Catalog) -> None:
    video = Video(
        id="vid-1", filename="holiday.mov", title="Holiday", size=1234, duration=12.5,
        renditions=(RENDITION,), version="v1a2b3c4", request_id="req-1",
    )
    await catalog.create(video)
    assert await catalog.get("vid-1") == video
    assert await catalog.get("missing") is None


async def test_creating_an_existing_id_is_refused(catalog: Catalog) -> None:
    await catalog.create(Video(id="vid-1", title="first"))
    with pytest.raises(ValueError):
        await catalog.create(Video(id="vid-1", title="second"))
    stored = await catalog.get("vid-1")
    assert stored is not None and stored.title == "first"


async def test_update_changes_fields_and_the_timestamp(catalog: Catalog) -> None:
    original = Video(id="vid-1", created_at=1000.0, updated_at=1000.0)
    await catalog.create(original)

    updated = await catalog.update(
        "vid-1", status=VideoStatus.READY, progress=100.0, renditions=(RENDITION,), ready_at=5.0
    )

    assert updated is not None
    assert (updated.status, updated.progress, updated.renditions) == (
        VideoStatus.READY, 100.0, (RENDITION,)
    )
    assert updated.updated_at > 1000.0 and updated.created_at == 1000.0
    assert await catalog.get("vid-1") == updated
    assert await catalog.update("missing", progress=1.0) is None


async def test_update_with_an_unknown_field_is_an_error(catalog: Catalog) -> None:
    await catalog.create(Video(id="vid-1"))
    with pytest.raises(TypeError):
        await catalog.update("vid-1", no_such_field=1)


async def test_delete(catalog: Catalog) -> None:
    await catalog.create(Video(id="vid-1"))
    assert await catalog.delete("vid-1")
    assert not await catalog.delete("vid-1")
    assert await catalog.get("vid-1") is None
    assert await catalog.list() == ([], None)
    assert await catalog.list(status=VideoStatus.QUEUED) == ([], None)


async def test_concurrent_updates_from_several_services_all_land(
    make_catalog: CatalogFactory,
) -> None:
    services = [await make_catalog() for _ in range(3)]
    await services[0].create(Video(id="vid-1", created_at=1.0))

    async def bump(catalog: Catalog, n: int) -> None:
        if n == 7:
            await catalog.update("vid-1", status=VideoStatus.PROCESSING)
        else:
            await catalog.update("vid-1", progress=float(n))

    await asyncio.gather(*(bump(services[n % 3], n) for n in range(20)))

    final = await services[1].get("vid-1")
    assert final is not None and final.status == VideoStatus.PROCESSING
    processing, _ = await services[2].list(status=VideoStatus.PROCESSING)
    queued, _ = await services[2].list(status=VideoStatus.QUEUED)
    assert [video.id for video in processing] == ["vid-1"]
    assert queued == []


# -- listing -------------------------------------------------------------------------------


async def test_list_is_newest_first_with_ties_broken_by_id(catalog: Catalog) -> None:
    # Five videos created in the same instant, around others: the cursor must not skip
    # or repeat any of them, whatever the page size.
    times = {"a": 10.0, "b": 20.0, "t1": 15.0, "t2": 15.0, "t3": 15.0, "t4": 15.0,
             "t5": 15.0, "c": 30.0, "d": 1.5e9, "e": 0.0}
    for video_id, created_at in times.items():
        await catalog.create(Video(id=video_id, created_at=created_at))
    expected = sorted(times, key=lambda vid: (times[vid], vid), reverse=True)

    for limit in (1, 2, 3, 4, 10, 11, 50):
        pages = await all_pages(catalog, limit=limit)
        assert [vid for page in pages for vid in page] == expected, f"limit {limit}"
        assert all(len(page) <= limit for page in pages)
        assert all(pages[:-1]), "an empty page before the end"


async def test_list_filters_by_status_with_pagination(catalog: Catalog) -> None:
    for n in range(9):
        await catalog.create(Video(id=f"v{n}", created_at=float(n % 3)))
    for n in (1, 4, 5, 8):
        await catalog.update(f"v{n}", status=VideoStatus.READY)
    await catalog.update("v2", status=VideoStatus.FAILED, error="not a video")

    ready = [vid for page in await all_pages(catalog, status=VideoStatus.READY, limit=3)
             for vid in page]
    queued = [vid for page in await all_pages(catalog, status=VideoStatus.QUEUED, limit=2)
              for vid in page]
    failed, cursor = await catalog.list(status=VideoStatus.FAILED)

    assert ready == ["v8", "v5", "v4", "v1"]
    assert queued == ["v7", "v6", "v3", "v0"]
    assert [video.error for video in failed] == ["not a video"] and cursor is None
    assert await catalog.list(status=VideoStatus.PROCESSING) == ([], None)


async def test_list_rejects_a_malformed_cursor(catalog: Catalog) -> None:
    with pytest.raises(ValueError):
        await catalog.list(cursor="not-a-cursor")


# -- idempotency keys ----------------------------------------------------------------------


async def test_idempotency_key_claim_and_release(make_catalog: CatalogFactory) -> None:
    one, two = await make_catalog(), await make_catalog()
    assert await one.claim_idempotency_key("key-1", "vid-a", ttl=60) is None
    assert await two.claim_idempotency_key("key-1", "vid-b", ttl=60) == "vid-a"
    assert await two.claim_idempotency_key("key-2", "vid-b", ttl=60) is None

    await two.release_idempotency_key("key-1", "vid-b")  # not the holder: no effect
    assert await one.claim_idempotency_key("key-1", "vid-c", ttl=60) == "vid-a"

    await one.release_idempotency_key("key-1", "vid-a")
    assert await two.claim_idempotency_key("key-1", "vid-c", ttl=60) is None


async def test_idempotency_key_expires(catalog: Catalog) -> None:
    assert await catalog.claim_idempotency_key("key-1", "vid-a", ttl=0.3) is None
    assert await catalog.claim_idempotency_key("key-1", "vid-b", ttl=0.3) == "vid-a"
    await asyncio.sleep(0.5)
    assert await catalog.claim_idempotency_key("key-1", "vid-b", ttl=60) is None


async def test_deleting_a_video_frees_its_idempotency_keys(catalog: Catalog) -> None:
    await catalog.create(Video(id="vid-a"))
    assert await catalog.claim_idempotency_key("key-1", "vid-a", ttl=60) is None
    assert await catalog.claim_idempotency_key("key-2", "vid-other", ttl=60) is None
    assert await catalog.delete("vid-a")
    assert await catalog.claim_idempotency_key("key-1", "vid-b", ttl=60) is None
    assert await catalog.claim_idempotency_key("key-2", "vid-b", ttl=60) == "vid-other"


async def test_check_passes_on_a_started_catalog(catalog: Catalog) -> None:
    await catalog.check()


async def test_update_if_applies_only_in_the_expected_status(
    make_catalog: CatalogFactory,
) -> None:
    """Two services retrying the same failed video at once: exactly one wins."""
    first, second = await make_catalog(), await make_catalog()
    await first.create(Video(id="failed1", status=VideoStatus.FAILED, error="boom", attempts=5))
    results = await asyncio.gather(*(
        catalog.update_if("failed1", VideoStatus.FAILED, status=VideoStatus.QUEUED, attempts=0)
        for catalog in (first, second, first, second)
    ))  # fmt: skip
    winners = [video for video in results if video is not None]
    assert len(winners) == 1 and winners[0].status is VideoStatus.QUEUED
    stored = await first.get("failed1")
    assert stored is not None and (stored.status, stored.attempts) == (VideoStatus.QUEUED, 0)
    queued, _ = await first.list(status=VideoStatus.QUEUED)
    failed, _ = await first.list(status=VideoStatus.FAILED)
    assert [v.id for v in queued] == ["failed1"] and failed == []
    assert await first.update_if("missing", VideoStatus.FAILED, status=VideoStatus.QUEUED) is None
