"""What only the S3 store has: bucket creation, credentials, outages and timeouts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backends import fresh_bucket
from tests.support.ports import listening_addresses
from tests.support.seaweed import SeaweedServer
from vodstack.errors import StoreUnavailable
from vodstack.settings import Settings
from vodstack.store import open_store
from vodstack.store.s3 import S3Store

MARGIN = 2.0
"""Allowed beyond store_timeout (process scheduling on a busy 2-core CI machine)."""


def s3_settings(server: SeaweedServer, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "store": url,
        "s3_access_key_id": server.access_key,
        "s3_secret_access_key": server.secret_key,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_seaweedfs_listens_on_loopback_only(s3_server: SeaweedServer) -> None:
    assert s3_server.pid is not None
    sockets = listening_addresses(s3_server.pid)
    assert ("tcp", "127.0.0.1", s3_server.port) in sockets
    assert {host for _proto, host, _port in sockets} == {"127.0.0.1"}


async def test_open_store_dispatches_s3_urls(s3_server: SeaweedServer, s3_store_url: str) -> None:
    store = open_store(s3_settings(s3_server, s3_store_url))
    assert isinstance(store, S3Store)
    await store.start()
    try:
        await store.put_bytes("a/b", b"x", content_type="text/plain")
        assert await store.read("a/b") == b"x"
    finally:
        await store.close()


async def test_key_prefix_keeps_deployments_apart(s3_server: SeaweedServer) -> None:
    bucket = fresh_bucket()
    one = S3Store.from_url(
        s3_server.store_url(bucket, prefix="one"),
        s3_settings(s3_server, s3_server.store_url(bucket, prefix="one")),
    )
    two = S3Store.from_url(
        s3_server.store_url(bucket, prefix="two"),
        s3_settings(s3_server, s3_server.store_url(bucket, prefix="two")),
    )
    await asyncio.gather(one.start(), two.start())
    try:
        await one.put_bytes("videos/a/master.m3u8", b"one", content_type="text/plain")
        await two.put_bytes("videos/a/master.m3u8", b"two", content_type="text/plain")
        assert await one.read("videos/a/master.m3u8") == b"one"
        assert [info.key async for info in two.list("videos/")] == ["videos/a/master.m3u8"]
        assert await one.delete_prefix("videos/") == 1
        assert await two.read("videos/a/master.m3u8") == b"two"
    finally:
        await one.close()
        await two.close()


async def test_services_starting_together_both_get_the_bucket(
    s3_server: SeaweedServer, s3_store_url: str
) -> None:
    settings = s3_settings(s3_server, s3_store_url)
    stores = [S3Store.from_url(s3_store_url, settings) for _ in range(3)]
    try:
        await asyncio.gather(*(store.start() for store in stores))
        await stores[0].put_bytes("a/b", b"x", content_type="text/plain")
        assert await stores[2].read("a/b") == b"x"
    finally:
        for store in stores:
            await store.close()


async def test_wrong_credentials_say_so(s3_server: SeaweedServer, s3_store_url: str) -> None:
    settings = s3_settings(s3_server, s3_store_url, s3_secret_access_key="wrong-secret")
    store = S3Store.from_url(s3_store_url, settings)
    try:
        with pytest.raises(StoreUnavailable, match="refused the credentials"):
            await store.start()
    finally:
        await store.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung S3 server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


async def test_a_hung_server_times_out_within_store_timeout(silent_server: int) -> None:
    url = f"s3://hung?endpoint=http://127.0.0.1:{silent_server}"
    settings = Settings(
        store=url, s3_access_key_id="k", s3_secret_access_key="s", store_timeout=1.0
    )
    store = S3Store.from_url(url, settings)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"no answer from .* within 1s"):
            await store.start()
        assert time.monotonic() - started < 1.0 + MARGIN
    finally:
        await store.close()


@pytest.mark.slow
async def test_outage_then_recovery_without_a_new_store(tmp_path: Path) -> None:
    server = SeaweedServer(tmp_path / "seaweedfs").start()
    try:
        url = server.store_url(fresh_bucket())
        store = S3Store.from_url(url, s3_settings(server, url, store_timeout=2.0))
        await store.start()
        await store.put_bytes("videos/a/master.m3u8", b"#EXTM3U\n", content_type="text/plain")

        await asyncio.to_thread(server.stop, kill=True)
        for attempt in (
            lambda: store.head("videos/a/master.m3u8"),
            lambda: store.open("videos/a/master.m3u8", 0, 3),
            lambda: store.put_bytes("videos/a/new", b"x", content_type="text/plain"),
            store.check,
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="S3"):
                await attempt()
            assert time.monotonic() - started < 2.0 + MARGIN

        await asyncio.to_thread(server.start)
        assert await store.read("videos/a/master.m3u8") == b"#EXTM3U\n"
        await store.put_bytes("videos/a/new", b"x", content_type="text/plain")
        await store.check()
        await store.close()
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_stream_dropped_without_aclose_gives_its_slot_back(
    s3_server: SeaweedServer, s3_store_url: str
) -> None:
    store = S3Store.from_url(
        s3_store_url, s3_settings(s3_server, s3_store_url, s3_max_connections=2, store_timeout=3.0)
    )
    await store.start()
    try:
        await store.put_bytes("a/b", b"x" * 100_000, content_type="text/plain")
        for _ in range(5):  # more than the two slots
            stream = await store.open("a/b")
            del stream
        assert len(await store.read("a/b")) == 100_000
    finally:
        await store.close()


async def test_a_bucket_in_another_region_is_created(
    s3_server: SeaweedServer, s3_store_url: str
) -> None:
    url = s3_store_url.replace("region=us-east-1", "region=eu-west-1")
    store = S3Store.from_url(url, s3_settings(s3_server, url))
    await store.start()
    try:
        await store.put_bytes("a/b", b"x", content_type="text/plain")
        assert await store.read("a/b") == b"x"
    finally:
        await store.close()
