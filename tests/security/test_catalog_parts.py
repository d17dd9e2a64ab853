"""Upload records, API key records and the webhook outbox: one contract, SQLite and Redis."""

from __future__ import annotations

import asyncio
import json
import time

from tests.support.backends import CatalogFactory
from vodstack.catalog import Catalog, Video, VideoStatus
from vodstack.catalog.apikeys import ApiKeyRecord
from vodstack.catalog.outbox import Attempt, DeliveryState
from vodstack.catalog.uploads import UploadRecord

UPLOAD_ID = "upload0000000001"


def record(**changes: object) -> UploadRecord:
    now = time.time()
    base = UploadRecord(
        id=UPLOAD_ID, length=100, metadata={"filename": "a.mp4"}, created_at=now,
        expires_at=now + 3600,
    )
    return base.replace(**changes)


# -- upload records ----------------------------------------------------------------------


async def test_upload_records_round_trip_and_ids_are_unique(catalog: Catalog) -> None:
    original = record(storage={"key": "uploads/x/source", "offset": 0, "state": {"a": [1]}})
    await catalog.uploads.create_upload(original)
    assert await catalog.uploads.get_upload(UPLOAD_ID) == original
    try:
        await catalog.uploads.create_upload(record())
    except ValueError:
        pass
    else:
        raise AssertionError("a second upload with the same id was accepted")
    assert await catalog.uploads.get_upload("nope000000000000") is None


async def test_only_the_lock_holder_saves_or_deletes(make_catalog: CatalogFactory) -> None:
    one, two = await make_catalog(), await make_catalog()
    await one.uploads.create_upload(record())
    assert await one.uploads.lock_upload(UPLOAD_ID, "a", 30)
    assert not await two.uploads.lock_upload(UPLOAD_ID, "b", 30)
    assert await one.uploads.lock_upload(UPLOAD_ID, "a", 30)  # renewal
    assert not await two.uploads.save_upload(record(offset=50), "b")
    assert await one.uploads.save_upload(record(offset=50), "a")
    assert not await two.uploads.delete_upload(UPLOAD_ID, "b")
    saved = await two.uploads.get_upload(UPLOAD_ID)
    assert saved is not None and saved.offset == 50
    await one.uploads.unlock_upload(UPLOAD_ID, "a")
    assert await two.uploads.lock_upload(UPLOAD_ID, "b", 30)
    assert await two.uploads.delete_upload(UPLOAD_ID, "b")
    assert await one.uploads.get_upload(UPLOAD_ID) is None
    assert not await one.uploads.lock_upload(UPLOAD_ID, "a", 30)  # nothing left to lock


async def test_an_expired_lock_passes_to_the_next_request(catalog: Catalog) -> None:
    await catalog.uploads.create_upload(record())
    assert await catalog.uploads.lock_upload(UPLOAD_ID, "a", 0.2)
    await asyncio.sleep(0.4)
    assert await catalog.uploads.lock_upload(UPLOAD_ID, "b", 30)
    assert not await catalog.uploads.save_upload(record(offset=1), "a")


async def test_unlock_requests_reach_the_holder_and_clear_on_handover(catalog: Catalog) -> None:
    await catalog.uploads.create_upload(record())
    assert await catalog.uploads.lock_upload(UPLOAD_ID, "a", 30)
    assert not await catalog.uploads.unlock_requested(UPLOAD_ID)
    await catalog.uploads.request_unlock(UPLOAD_ID)
    assert await catalog.uploads.unlock_requested(UPLOAD_ID)
    await catalog.uploads.unlock_upload(UPLOAD_ID, "a")
    assert await catalog.uploads.lock_upload(UPLOAD_ID, "b", 30)
    assert not await catalog.uploads.unlock_requested(UPLOAD_ID)


async def test_expired_uploads_oldest_first(catalog: Catalog) -> None:
    now = time.time()
    for index, offset in enumerate((-30, -60, 600)):
        await catalog.uploads.create_upload(
            record(id=f"upload000000000{index}", expires_at=now + offset)
        )
    assert await catalog.uploads.expired_uploads(now, 10) == [
        "upload0000000001", "upload0000000000"
    ]
    assert await catalog.uploads.expired_uploads(now, 1) == ["upload0000000001"]


# -- API keys ----------------------------------------------------------------------------


async def test_api_keys_add_list_revoke(catalog: Catalog) -> None:
    first = ApiKeyRecord("k1", "laptop", "aa" * 32, 100.0)
    second = ApiKeyRecord("k2", "ci", "bb" * 32, 200.0)
    await catalog.api_keys.add_key(second)
    await catalog.api_keys.add_key(first)
    assert [k.id for k in await catalog.api_keys.list_keys()] == ["k1", "k2"]
    assert await catalog.api_keys.get_key("k1") == first
    assert await catalog.api_keys.revoke_key("k1", 300.0)
    assert await catalog.api_keys.revoke_key("k1", 400.0)
    revoked = await catalog.api_keys.get_key("k1")
    assert revoked is not None and revoked.revoked_at == 300.0 and not revoked.active
    assert not await catalog.api_keys.revoke_key("k3", 300.0)


# -- webhook outbox ----------------------------------------------------------------------


async def test_ready_and_its_deliveries_are_one_step(catalog: Catalog) -> None:
    await catalog.create(Video(id="video00000000001", title="Clip"))
    urls = ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "http://127.0.0.1:1/a"]
    video = await catalog.update_and_notify(
        "video00000000001", "video.ready", urls, status=VideoStatus.READY, duration=10.0
    )
    assert video is not None and video.status is VideoStatus.READY
    deliveries = await catalog.outbox.list_deliveries(video_id="video00000000001")
    assert sorted(d.url for d in deliveries) == ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]
    assert len({d.event_id for d in deliveries}) == 1
    body = json.loads(deliveries[0].body)
    assert body["type"] == "video.ready" and body["id"] == deliveries[0].event_id
    assert body["data"]["video"]["status"] == "ready"
    assert body["data"]["video"]["duration"] == 10.0
    assert await catalog.update_and_notify("missing000000000", "video.failed", urls) is None


async def test_no_urls_means_a_plain_update(catalog: Catalog) -> None:
    await catalog.create(Video(id="video00000000001"))
    await catalog.update_and_notify("video00000000001", "video.failed", [], error="bad")
    assert await catalog.outbox.list_deliveries() == []


async def test_a_lease_is_exclusive_until_it_lapses(make_catalog: CatalogFactory) -> None:
    one, two = await make_catalog(), await make_catalog()
    await one.create(Video(id="video00000000001"))
    await one.update_and_notify("video00000000001", "video.ready", ["http://h/x"])
    leased = await one.outbox.lease_due(10, 0.5)
    assert len(leased) == 1
    assert await two.outbox.lease_due(10, 0.5) == []
    await asyncio.sleep(0.8)
    again = await two.outbox.lease_due(10, 30)
    assert [d.id for d in again] == [leased[0].id]
    # The first lease lapsed: its attempt is not recorded; the current one's is.
    attempt = Attempt(at=time.time(), duration=0.1, status=200)
    done = leased[0].after(attempt, DeliveryState.DELIVERED, 0.0)
    assert not await one.outbox.record_attempt(leased[0], done, 0)
    assert await two.outbox.record_attempt(again[0], again[0].after(
        attempt, DeliveryState.DELIVERED, 0.0), 0)
    stored = (await one.outbox.list_deliveries())[0]
    assert stored.state is DeliveryState.DELIVERED and stored.attempts == 1
    assert stored.history[0].status == 200
    assert await one.outbox.lease_due(10, 30) == []


async def test_a_retry_comes_due_after_its_delay(catalog: Catalog) -> None:
    await catalog.create(Video(id="video00000000001"))
    await catalog.update_and_notify("video00000000001", "video.failed", ["http://h/x"])
    (leased,) = await catalog.outbox.lease_due(10, 30)
    failed = Attempt(at=time.time(), duration=0.0, status=500, error="HTTP 500")
    assert await catalog.outbox.record_attempt(
        leased, leased.after(failed, DeliveryState.PENDING, time.time() + 0.3), 0.3
    )
    assert await catalog.outbox.lease_due(10, 30) == []
    await asyncio.sleep(0.5)
    (again,) = await catalog.outbox.lease_due(10, 30)
    assert again.attempts == 1 and again.history[0].error == "HTTP 500"
