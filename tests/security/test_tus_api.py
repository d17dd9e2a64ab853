"""tus 1.0 at /v1/uploads against a real upload API, embedded and distributed backends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from ingest.app import create_app
from ingest.tus.sweeper import sweep_once
from tests.security import tus
from tests.support.backends import BackendConfig
from tests.support.ingest_server import IngestServer, running_ingest
from vodstack.catalog import VideoStatus
from vodstack.store import ObjectNotFound, ResumableUpload

MiB = 1024 * 1024


@pytest.fixture
async def server(backend: BackendConfig) -> AsyncIterator[IngestServer]:
    async with running_ingest(backend.settings(max_upload_size=64 * MiB)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


def upload_id(location: str) -> str:
    return location.rsplit("/", 1)[1]


async def test_discovery_advertises_version_extensions_and_limits(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    answer = await tus.send(http, "OPTIONS", f"{server.url}/v1/uploads")
    assert answer.status == 204
    headers = answer.headers
    assert headers["Tus-Version"] == "1.0.0"
    assert headers["Tus-Max-Size"] == str(64 * MiB)
    extensions = headers["Tus-Extension"].split(",")
    for name in ("creation", "creation-with-upload", "termination", "checksum", "expiration"):
        assert name in extensions
    assert "sha1" in headers["Tus-Checksum-Algorithm"].split(",")
    # A browser on another origin may call it and read what it needs.
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "PATCH" in headers["Access-Control-Allow-Methods"]
    assert "Upload-Offset" in headers["Access-Control-Allow-Headers"]
    for exposed in ("Upload-Offset", "Location", "Tus-Resumable", "Upload-Expires"):
        assert exposed in headers["Access-Control-Expose-Headers"]


async def test_a_chunked_upload_becomes_one_queued_video(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(5 * MiB + 4321)
    location = await tus.upload_all(
        http, server.url, data, MiB, filename="holiday.mp4", title="Our holiday"
    )
    video_id = upload_id(location)
    video = await server.catalog.get(video_id)
    assert video is not None and video.status is VideoStatus.QUEUED
    assert (video.title, video.filename, video.size) == ("Our holiday", "holiday.mp4", len(data))
    assert await server.queue.depth() == 1
    assert await server.store.read(f"uploads/{video_id}/source") == data
    answer = await tus.head(http, location)
    assert answer.status == 200
    assert (answer.offset, answer.headers["Upload-Length"]) == (len(data), str(len(data)))
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert answer.headers["Vodstack-Video-Id"] == video_id
    status = await tus.send(http, "GET", answer.headers["Vodstack-Video-Url"])
    assert status.status == 200


async def test_head_reports_offset_length_metadata_and_expiry(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    location = await tus.create(http, server.url, 1000, filename="a.mp4")
    answer = await tus.patch(http, location, 0, b"x" * 400)
    assert (answer.status, answer.offset) == (204, 400)
    expires = answer.headers["Upload-Expires"]
    assert expires.endswith("GMT")
    answer = await tus.head(http, location)
    assert (answer.offset, answer.headers["Upload-Length"]) == (400, "1000")
    assert answer.headers["Upload-Metadata"] == tus.metadata(filename="a.mp4")
    assert answer.headers["Upload-Expires"].endswith("GMT")


@pytest.mark.parametrize("version", [None, "0.2.2", "2.0.0"])
async def test_an_unsupported_version_is_412_with_the_supported_one(
    server: IngestServer, http: aiohttp.ClientSession, version: str | None
) -> None:
    headers = {"Upload-Length": "10"} if version is None else {
        "Tus-Resumable": version, "Upload-Length": "10"
    }
    answer = await tus.send(http, "POST", f"{server.url}/v1/uploads", headers=headers)
    assert answer.status == 412
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert b"unsupported_version" in answer.body


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),
        ({"Upload-Length": "-1"}, 400),
        ({"Upload-Length": str(65 * MiB)}, 413),
        ({"Upload-Length": "10", "Upload-Defer-Length": "1"}, 400),
        ({"Upload-Defer-Length": "2"}, 400),
        ({"Upload-Length": "10", "Upload-Metadata": "filename not*base64"}, 400),
        ({"Upload-Length": "10", "Upload-Metadata": "a YQ==,a YQ=="}, 400),
    ],
)
async def test_bad_creation_requests_are_refused_in_json(
    server: IngestServer, http: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    answer = await tus.send(
        http, "POST", f"{server.url}/v1/uploads", headers={**tus.TUS, **headers}
    )
    assert answer.status == status, answer.body
    assert b'"error"' in answer.body


async def test_wrong_offset_is_409_and_changes_nothing(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    location = await tus.create(http, server.url, 100)
    assert (await tus.patch(http, location, 0, b"a" * 10)).status == 204
    answer = await tus.patch(http, location, 0, b"b" * 10)
    assert answer.status == 409 and b"offset_mismatch" in answer.body
    assert (await tus.head(http, location)).offset == 10


async def test_patch_needs_the_offset_content_type(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    location = await tus.create(http, server.url, 100)
    answer = await tus.patch(http, location, 0, b"a", headers={"Content-Type": "video/mp4"})
    assert answer.status == 415


async def test_checksum_mismatch_is_460_and_the_offset_stays(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(3 * MiB)
    location = await tus.create(http, server.url, len(data))
    assert (await tus.patch(http, location, 0, data[:MiB])).status == 204
    wrong = await tus.patch(
        http, location, MiB, data[MiB:2 * MiB], headers={"Upload-Checksum": tus.sha1_header(b"x")}
    )
    assert wrong.status == 460 and b"checksum_mismatch" in wrong.body
    assert (await tus.head(http, location)).offset == MiB
    right = await tus.patch(
        http, location, MiB, data[MiB:], headers={"Upload-Checksum": tus.sha1_header(data[MiB:])}
    )
    assert (right.status, right.offset) == (204, len(data))
    assert await server.store.read(f"uploads/{upload_id(location)}/source") == data


async def test_an_unknown_checksum_algorithm_is_400(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    location = await tus.create(http, server.url, 10)
    answer = await tus.patch(http, location, 0, b"a", headers={"Upload-Checksum": "crc32 AAAA"})
    assert answer.status == 400
    assert (await tus.head(http, location)).offset == 0


async def test_more_bytes_than_the_length_are_refused(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    location = await tus.create(http, server.url, 10)
    assert (await tus.patch(http, location, 0, b"a" * 11)).status == 413
    assert (await tus.head(http, location)).offset == 0


async def test_creation_with_upload(server: IngestServer, http: aiohttp.ClientSession) -> None:
    data = os.urandom(300_000)
    answer = await tus.send(
        http, "POST", f"{server.url}/v1/uploads", data=data[:100_000],
        headers={**tus.TUS, "Upload-Length": str(len(data)), "Content-Type": tus.OFFSET_TYPE},
    )
    assert answer.status == 201 and answer.offset == 100_000
    location = answer.headers["Location"]
    assert (await tus.patch(http, location, 100_000, data[100_000:])).status == 204
    assert await server.catalog.get(upload_id(location)) is not None


async def test_deferred_length_is_given_by_a_later_patch(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(200_000)
    location = await tus.create(http, server.url, None)
    answer = await tus.head(http, location)
    assert answer.headers["Upload-Defer-Length"] == "1"
    assert (await tus.patch(http, location, 0, data[:150_000])).status == 204
    assert await server.catalog.get(upload_id(location)) is None
    last = await tus.patch(
        http, location, 150_000, data[150_000:], headers={"Upload-Length": str(len(data))}
    )
    assert last.status == 204 and last.headers["Upload-Length"] == str(len(data))
    assert await server.catalog.get(upload_id(location)) is not None


async def test_termination_removes_the_upload_and_its_pieces(
    server: IngestServer, http: aiohttp.ClientSession, backend: BackendConfig
) -> None:
    location = await tus.create(http, server.url, 20 * MiB)
    assert (await tus.patch(http, location, 0, os.urandom(6 * MiB))).status == 204
    record = await server.catalog.uploads.get_upload(upload_id(location))
    assert record is not None and record.storage is not None
    answer = await tus.send(http, "DELETE", location, headers=tus.TUS)
    assert answer.status == 204
    assert (await tus.head(http, location)).status == 404
    assert (await tus.patch(http, location, 6 * MiB, b"more")).status == 404
    assert [i.key async for i in server.store.list("uploads/")] == []
    with pytest.raises(ObjectNotFound):
        await server.store.append_resumable(
            ResumableUpload.from_dict(record.storage), tus_chunks(b"x")
        )


async def tus_chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_retried_or_raced_final_patch_makes_one_video_and_one_job(
    backend: BackendConfig, http: aiohttp.ClientSession
) -> None:
    settings = backend.settings(max_upload_size=64 * MiB)
    async with (
        running_ingest(settings) as one,
        running_ingest(settings, create_app(settings)) as two,
    ):
        data = os.urandom(3 * MiB)
        location = await tus.create(http, one.url, len(data))
        assert (await tus.patch(http, location, 0, data[:2 * MiB])).status == 204
        path = location.removeprefix(one.url)
        final = data[2 * MiB:]
        answers = await asyncio.gather(
            tus.patch(http, one.url + path, 2 * MiB, final),
            tus.patch(http, two.url + path, 2 * MiB, final),
        )
        statuses = sorted(a.status for a in answers)
        assert statuses == [204, 409], [a.body for a in answers]
        # The client retries (its first answer was lost): told it is done, nothing new.
        retry = await tus.patch(http, two.url + path, 2 * MiB, final)
        assert retry.status == 409
        assert (await tus.head(http, one.url + path)).offset == len(data)
        empty = await tus.patch(http, one.url + path, len(data), b"")
        assert empty.status == 204
        videos, _ = await one.catalog.list(limit=10)
        assert [v.id for v in videos] == [upload_id(location)]
        assert await one.queue.depth() == 1


async def test_an_interrupted_patch_keeps_what_arrived(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(2 * MiB)
    location = await tus.create(http, server.url, len(data))
    host, port = server.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    path = location.removeprefix(server.url)
    writer.write(
        f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: {tus.OFFSET_TYPE}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:700_000]
    )
    await writer.drain()
    await asyncio.sleep(0.5)
    writer.close()  # the connection drops mid-body
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    offset = (await tus.head(http, location)).offset
    assert 0 < offset <= 700_000
    assert (await tus.patch(http, location, offset, data[offset:])).status == 204
    assert await server.store.read(f"uploads/{upload_id(location)}/source") == data


async def test_a_new_request_takes_over_from_a_stalled_one(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    """The old connection is still open but silent (a dead Wi-Fi): the client's new HEAD
    asks it to let go, and gets the offset of what the old one received."""
    data = os.urandom(MiB)
    location = await tus.create(http, server.url, len(data))
    host, port = server.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"PATCH {location.removeprefix(server.url)} HTTP/1.1\r\nHost: {host}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: {tus.OFFSET_TYPE}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:100_000]
    )
    await writer.drain()
    await asyncio.sleep(0.5)
    started = time.monotonic()
    answer = await tus.head(http, location)
    assert answer.status == 200 and answer.offset == 100_000
    assert time.monotonic() - started < 8
    writer.close()
    assert (await tus.patch(http, location, 100_000, data[100_000:])).status == 204


async def test_expired_uploads_are_swept_with_their_pieces(
    server: IngestServer, http: aiohttp.ClientSession, backend: BackendConfig
) -> None:
    abandoned = await tus.create(http, server.url, 20 * MiB)
    assert (await tus.patch(http, abandoned, 0, os.urandom(7 * MiB))).status == 204
    finished = await tus.upload_all(http, server.url, os.urandom(1000), 1000)
    active = await tus.create(http, server.url, 100)
    later = time.time() + server.settings.upload_expiry + 1
    # Keep `active` alive: its expiry moves with each PATCH.
    record = await server.catalog.uploads.get_upload(upload_id(active))
    assert record is not None and record.expires_at < later
    removed = await sweep_once(server.backends, server.settings, now=later)
    assert removed == 3
    assert (await tus.head(http, abandoned)).status == 404
    # The finished upload's video and source stay; only its upload record is gone.
    assert await server.catalog.get(upload_id(finished)) is not None
    keys = [i.key async for i in server.store.list("uploads/")]
    assert keys == [f"uploads/{upload_id(finished)}/source"]
    if backend.distributed:
        assert await multipart_uploads(server) == []
    else:
        assert list((server.settings.data_dir / "store" / "resumable").iterdir()) == []


async def multipart_uploads(server: IngestServer) -> list[str]:
    store = server.store
    response = await store._call(  # type: ignore[attr-defined]
        "list uploads", "list_multipart_uploads", Bucket=store.bucket  # type: ignore[attr-defined]
    )
    return [u["Key"] for u in response.get("Uploads", [])]


async def test_an_expired_upload_answers_410_before_it_is_swept(
    backend: BackendConfig, http: aiohttp.ClientSession
) -> None:
    settings = backend.settings(upload_expiry=60.0)
    async with running_ingest(settings) as server:
        location = await tus.create(http, server.url, 100)
        record = await server.catalog.uploads.get_upload(upload_id(location))
        assert record is not None
        lock = "test"
        assert await server.catalog.uploads.lock_upload(record.id, lock, 5)
        await server.catalog.uploads.save_upload(record.replace(expires_at=time.time() - 1), lock)
        await server.catalog.uploads.unlock_upload(record.id, lock)
        assert (await tus.patch(http, location, 0, b"x")).status == 410
        assert (await tus.head(http, location)).status == 410
