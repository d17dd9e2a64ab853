"""Webhooks: signatures, the retry policy, and real deliveries from the outbox to a real
receiver on both catalogue backends (several dispatchers, failing receivers, give-up)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.security.receiver import running_receiver
from tests.support.backends import CatalogFactory
from tests.support.ingest_server import running_ingest
from vodstack.catalog import Catalog, Video, VideoStatus
from vodstack.catalog.outbox import Attempt, Delivery, DeliveryState
from vodstack.settings import Settings
from vodstack.webhooks import signature
from vodstack.webhooks.dispatcher import Dispatcher
from vodstack.webhooks.policy import RetryPolicy, after_attempt

SECRET = "whsec-0123456789abcdef"


# -- pure ----------------------------------------------------------------------------------


def documented_verify(secret: str, header: str, body: bytes, now: float) -> bool:
    """The receiver side exactly as the README shows it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(now - timestamp) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


def test_signatures_verify_and_resist_tampering_and_replay() -> None:
    body = b'{"id":"evt_1","type":"video.ready"}'
    header = signature.header_value(SECRET, body, now=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert signature.verify(SECRET, header, body, now=1_700_000_100)
    assert documented_verify(SECRET, header, body, now=1_700_000_100)
    assert not signature.verify(SECRET, header, body + b" ", now=1_700_000_100)
    assert not signature.verify("another-secret-entirely", header, body, now=1_700_000_100)
    assert not signature.verify(SECRET, header, body, now=1_700_000_301)  # replayed later
    assert not documented_verify(SECRET, header, body, now=1_700_000_301)
    rotated = header + ",v1=" + "0" * 64
    assert signature.verify(SECRET, rotated, body, now=1_700_000_000)
    for junk in ("", "t=abc,v1=00", "v1=00", "t=1700000000"):
        assert not signature.verify(SECRET, junk, body, now=1_700_000_000)


def delivery(created_at: float = 1000.0, attempts: int = 0) -> Delivery:
    return Delivery(
        id="dlv_1", event_id="evt_1", event_type="video.ready", video_id="v" * 16,
        url="http://h/x", body="{}", created_at=created_at, attempts=attempts,
    )


def test_after_an_attempt_done_retry_or_give_up() -> None:
    policy = RetryPolicy(base_delay=2.0, max_delay=60.0, retry_for=86400.0)
    done, delay = after_attempt(delivery(), Attempt(at=1001, duration=0.1, status=204), policy)
    assert done.state is DeliveryState.DELIVERED and done.delivered_at == 1001 and delay == 0
    rng = random.Random(7)
    for attempts in range(12):
        failed = Attempt(at=1001, duration=0.1, status=500, error="HTTP 500")
        retry, delay = after_attempt(delivery(attempts=attempts), failed, policy, rng)
        assert retry.state is DeliveryState.PENDING and retry.attempts == attempts + 1
        assert 0 <= delay <= min(60.0, 2.0 * 2**attempts)
        assert retry.next_attempt_at == pytest.approx(1001.1 + delay)
    late = Attempt(at=1000 + 86400, duration=1.0, status=None, error="refused")
    gone, delay = after_attempt(delivery(attempts=40), late, policy)
    assert gone.state is DeliveryState.FAILED and delay == 0
    assert len(gone.history) == 1


def test_full_jitter_spreads_retries() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=1000.0, retry_for=1e9)
    rng = random.Random(1)
    delays = [policy.delay(6, rng) for _ in range(2000)]
    assert max(delays) <= 32.0 and min(delays) >= 0.0
    assert 12 < sum(delays) / len(delays) < 20  # uniform on [0, 32]: mean 16


# -- real deliveries -----------------------------------------------------------------------


def webhook_settings(url: str, **more: object) -> Settings:
    return Settings(
        webhook_urls=(url,), webhook_secret=SECRET, webhook_timeout=1.0,
        webhook_retry_base_delay=0.2, webhook_retry_max_delay=0.5, **more,
    ).validate()


async def make_ready(catalog: Catalog, video_id: str, urls: tuple[str, ...]) -> Video:
    await catalog.create(Video(id=video_id, title="Clip"))
    video = await catalog.update_and_notify(
        video_id, "video.ready", urls, status=VideoStatus.READY, duration=12.5,
        ready_at=time.time(),
    )
    assert video is not None
    return video


@pytest.fixture
async def started() -> AsyncIterator[list[Dispatcher]]:
    dispatchers: list[Dispatcher] = []
    yield dispatchers
    for dispatcher in dispatchers:
        await dispatcher.stop()


async def start(dispatchers: list[Dispatcher], settings: Settings, catalog: Catalog) -> None:
    dispatcher = Dispatcher(settings, catalog.outbox, idle_poll=0.1)
    await dispatcher.start()
    dispatchers.append(dispatcher)


async def test_a_failing_receiver_gets_the_event_three_times_and_processes_it_once(
    catalog: Catalog, started: list[Dispatcher]
) -> None:
    async with running_receiver([500, 1.5]) as receiver:  # an error, then a hang
        settings = webhook_settings(receiver.url)
        video = await make_ready(catalog, "video00000000001", settings.webhook_urls)
        await start(started, settings, catalog)
        await receiver.wait_for(3)
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 3
        assert receiver.accepted_events == [receiver.received[0].event["id"]]
        assert len({r.event["id"] for r in receiver.received}) == 1
        assert len({r.body for r in receiver.received}) == 1  # the same bytes every time
        for request in receiver.received:
            header = request.headers["Vodstack-Signature"]
            assert documented_verify(SECRET, header, request.body, now=time.time())
            assert request.headers["Vodstack-Event-Id"] == request.event["id"]
            assert request.headers["Content-Type"] == "application/json"
        event = receiver.received[0].event
        assert event["type"] == "video.ready"
        assert event["data"]["video"]["id"] == video.id
        assert event["data"]["video"]["duration"] == 12.5
        # The video was ready before the first attempt, whatever the receiver did later.
        assert video.ready_at is not None and video.ready_at <= receiver.received[0].at
        (stored,) = await catalog.outbox.list_deliveries(video_id=video.id)
        assert stored.state is DeliveryState.DELIVERED and stored.attempts == 3
        assert [a.status for a in stored.history] == [500, None, 200]
        assert "no answer" in (stored.history[1].error or "")


async def test_two_dispatchers_never_double_send(make_catalog: CatalogFactory) -> None:
    one, two = await make_catalog(), await make_catalog()
    async with running_receiver() as receiver:
        settings = webhook_settings(receiver.url)
        for number in range(30):
            await make_ready(one, f"video{number:011d}", settings.webhook_urls)
        dispatchers: list[Dispatcher] = []
        try:
            await start(dispatchers, settings, one)
            await start(dispatchers, settings, two)
            await receiver.wait_for(30)
            await asyncio.sleep(0.5)
        finally:
            for dispatcher in dispatchers:
                await dispatcher.stop()
        counts = Counter(r.event["id"] for r in receiver.received)
        assert len(counts) == 30 and set(counts.values()) == {1}


async def test_deliveries_are_given_up_after_the_retry_window(
    catalog: Catalog, started: list[Dispatcher]
) -> None:
    async with running_receiver([500] * 1000) as receiver:
        settings = webhook_settings(receiver.url, webhook_retry_for=1.0)
        await make_ready(catalog, "video00000000001", settings.webhook_urls)
        await start(started, settings, catalog)
        deadline = time.monotonic() + 20
        while True:
            (stored,) = await catalog.outbox.list_deliveries()
            if stored.state is DeliveryState.FAILED or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert stored.state is DeliveryState.FAILED
        assert stored.attempts >= 2 and stored.attempts == len(receiver.received)


async def test_an_unreachable_receiver_is_retried_not_fatal(
    catalog: Catalog, started: list[Dispatcher]
) -> None:
    settings = webhook_settings("http://127.0.0.1:9/hook")  # discard port: refused
    await make_ready(catalog, "video00000000001", settings.webhook_urls)
    await start(started, settings, catalog)
    await asyncio.sleep(1.5)
    (stored,) = await catalog.outbox.list_deliveries()
    assert stored.state is DeliveryState.PENDING and stored.attempts >= 2
    assert stored.history[0].status is None and stored.history[0].error


async def test_deliveries_are_listed_by_the_api(tmp_path: Path) -> None:
    async with running_receiver([500]) as receiver:
        settings = webhook_settings(receiver.url, data_dir=tmp_path / "data")
        async with running_ingest(settings) as server:  # ingest runs a dispatcher too
            await make_ready(server.catalog, "video00000000001", settings.webhook_urls)
            await receiver.wait_for(2)
            await asyncio.sleep(0.3)
            async with aiohttp.ClientSession() as http:
                url = f"{server.url}/v1/webhooks/deliveries?video_id=video00000000001"
                async with http.get(url) as response:
                    assert response.status == 200
                    data = await response.json()
                async with http.get(f"{server.url}/v1/webhooks/deliveries?video_id=x") as bad:
                    assert bad.status == 400
        (listed,) = data["deliveries"]
        assert listed["state"] == "delivered" and listed["attempts"] == 2
        assert listed["url"] == receiver.url and listed["event_type"] == "video.ready"
        assert [a["status"] for a in listed["history"]] == [500, 200]
        assert listed["last_status"] == 200
        assert json.loads(receiver.received[-1].body)["id"] == listed["event_id"]
