"""Interrupted requests and graceful stops, with real `vodstack` processes:

- an upload cut off mid-body leaves no object, no record, no job and (on S3) no
  multipart upload in progress, on both backends;
- SIGTERM lets a download in progress finish (the origin drains its requests) and an
  upload in progress complete, while new connections are refused.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.support.backends import BackendConfig
from tests.support.processes import VodstackProcess
from vodstack.backends import Backends
from vodstack.catalog import VideoStatus
from vodstack.store.local import LocalStore
from vodstack.store.metered import unwrapped

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MiB = 1024 * 1024


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def in_progress_multipart_uploads(backend: BackendConfig) -> int:
    """Multipart uploads started and neither completed nor aborted, straight from S3."""
    import boto3

    settings = backend.settings()
    url = settings.store_url
    bucket = url.removeprefix("s3://").split("?", 1)[0]
    endpoint = url.split("endpoint=", 1)[1].split("&", 1)[0]
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
    )  # fmt: skip
    answer = await asyncio.to_thread(client.list_multipart_uploads, Bucket=bucket)
    return len(answer.get("Uploads", []))


async def test_an_upload_cut_off_mid_body_leaves_nothing_on_either_backend(
    start_vodstack: Callable[..., VodstackProcess], backend: BackendConfig
) -> None:
    ingest = start_vodstack("ingest", "--port", "0", env=backend.env, name="ingest")
    host, port = host_port(ingest.url)
    backends = Backends.from_settings(backend.settings())
    await backends.start()
    try:
        _reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /v1/videos?filename=cut.mp4 HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: video/mp4\r\nContent-Length: 104857600\r\n\r\n"
        )
        rng = random.Random(5)
        for _ in range(20):  # 20 MiB of the 100 announced: more than one S3 part
            writer.write(rng.randbytes(MiB))
            await writer.drain()
        if backend.distributed:
            deadline = time.monotonic() + 30
            while await in_progress_multipart_uploads(backend) == 0:
                assert time.monotonic() < deadline, "no multipart upload was started"
                await asyncio.sleep(0.1)
        writer.transport.abort()  # the client vanishes (reset, not a polite close)

        deadline = time.monotonic() + 30
        while True:
            left = [info.key async for info in backends.store.list("")]
            if backend.distributed:
                unfinished = await in_progress_multipart_uploads(backend)
            else:
                store = unwrapped(backends.store)
                assert isinstance(store, LocalStore)
                unfinished = len(list(store.tmp_root.glob("*"))) if store.tmp_root.exists() else 0
            if not left and not unfinished:
                break
            assert time.monotonic() < deadline, (left, unfinished)
            await asyncio.sleep(0.2)
        assert await backends.queue.depth() == 0
        for status in VideoStatus:
            videos, _ = await backends.catalog.list(status=status)
            assert videos == []
        # The service is fine and takes the next upload.
        async with (
            aiohttp.ClientSession() as http,
            http.post(ingest.url + "/v1/videos", data=b"x" * 1000) as response,
        ):
            assert response.status == 201
        assert "Traceback" not in ingest.log_text()
    finally:
        await backends.close()
    assert await asyncio.to_thread(ingest.stop) == 0


async def test_sigterm_lets_a_download_in_progress_finish(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    store = LocalStore(data / "store")
    await store.start()
    body = random.Random(9).randbytes(24 * MiB)
    key = "videos/AbCdEfGhIjKlMnOp/v1/720p/0.m4s"
    await store.put_bytes(key, body, content_type="video/iso.segment")
    await store.close()
    origin = start_vodstack("origin", "--data-dir", str(data), "--port", "0", name="origin")

    received = bytearray()
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{origin.url}/v/AbCdEfGhIjKlMnOp/v1/720p/0.m4s") as response,
    ):
        assert response.status == 200
        received += await response.content.read(MiB)
        origin.signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.5)
        # A new connection is refused while the one in progress goes on.
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as other:
                await other.get(f"{origin.url}/healthz")
        while chunk := await response.content.read(256 * 1024):
            received += chunk
            await asyncio.sleep(0.05)  # a slow reader: several seconds for the rest
    assert bytes(received) == body
    assert time.monotonic() - signalled > 2
    exit_code = await asyncio.to_thread(origin.proc.wait, 30)
    assert exit_code == 0
    assert "Traceback" not in origin.log_text()


async def test_an_upload_whose_body_stops_arriving_is_abandoned_with_408(
    tmp_path: Path,
) -> None:
    from ingest.app import create_app
    from tests.support.ingest_server import running_ingest
    from vodstack.settings import Settings

    settings = Settings(data_dir=tmp_path, upload_idle_timeout=1.0).validate()
    async with running_ingest(settings, create_app(settings)) as server:
        host, port = host_port(server.url)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            b"Content-Length: 10000000\r\n\r\n" + b"x" * 300_000
        )
        await writer.drain()
        started = time.monotonic()
        async with asyncio.timeout(10):  # the client sends nothing more
            answer = await reader.readuntil(b"\r\n\r\n")
            length = int(answer.lower().split(b"content-length: ", 1)[1].split(b"\r\n")[0])
            answer += await reader.readexactly(length)
        writer.close()
        assert time.monotonic() - started < 4
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"request_timeout"' in answer
        store = unwrapped(server.store)
        assert isinstance(store, LocalStore)
        assert [info.key async for info in store.list("")] == []
        assert not store.tmp_root.exists() or not any(store.tmp_root.iterdir())
        assert await server.queue.depth() == 0
