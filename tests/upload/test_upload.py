"""POST /v1/videos against a real server: raw and multipart bodies, limits, failures."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ingest.app import add_routes
from tests.support.ingest_server import IngestServer, StartIngest, running_ingest
from tests.upload.helpers import (
    assert_nothing_left,
    eventually,
    generated,
    payload,
    stored_keys,
    temp_files,
)
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import VideoStatus
from vodstack.settings import Settings
from vodstack.store.local import LocalStore
from vodstack.web import base_app

MiB = 1024 * 1024


async def _post(
    http: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    async with http.post(url + "/v1/videos", **kwargs) as response:
        return response.status, await response.json(), response.headers


async def test_raw_upload_is_stored_recorded_and_enqueued(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    body = payload(3 * MiB + 17)
    status, data, headers = await _post(
        http,
        server.url,
        data=body,
        params={"filename": "holiday.mp4", "title": "Holiday"},
        headers={"Content-Type": "video/mp4", "X-Request-Id": "req-123"},
    )
    assert status == 201, data
    video_id = data["id"]
    assert keys.is_video_id(video_id)
    assert data == {
        "id": video_id,
        "status": "queued",
        "status_url": f"{server.url}/v1/videos/{video_id}",
        "playback_url": f"{server.url}/v/{video_id}/master.m3u8",
    }
    assert headers["Location"] == data["status_url"]
    assert headers["Cache-Control"] == "no-store"

    assert await server.store.read(keys.source_key(video_id)) == body
    info = await server.store.head(keys.source_key(video_id))
    assert info.content_type == "video/mp4"

    video = await server.catalog.get(video_id)
    assert video is not None
    assert (video.status, video.filename, video.title, video.size, video.request_id) == (
        VideoStatus.QUEUED,
        "holiday.mp4",
        "Holiday",
        len(body),
        "req-123",
    )

    job = await server.queue.lease("test-worker", 30, 0)
    assert job is not None
    assert job.video_id == video_id
    assert job.payload == {
        "video_id": video_id,
        "source_key": keys.source_key(video_id),
        "request_id": "req-123",
    }
    assert job.max_attempts == server.settings.max_attempts
    assert await server.queue.lease("test-worker", 30, 0) is None


@pytest.mark.parametrize("title_first", [True, False])
async def test_multipart_upload_with_title_before_or_after_the_file(
    server, http, title_first: bool
) -> None:
    body = payload(2 * MiB, seed=5)
    form = aiohttp.FormData()
    if title_first:
        form.add_field("title", "My clip")
    form.add_field(
        "file", body, filename="C:\\Users\\me\\clip one.mov", content_type="video/quicktime"
    )
    if not title_first:
        form.add_field("title", "My clip")
    status, data, headers = await _post(http, server.url, data=form)
    assert status == 201, data
    assert headers["Location"] == data["status_url"]
    video = await server.catalog.get(data["id"])
    assert video is not None
    assert (video.filename, video.title, video.size) == ("clip one.mov", "My clip", len(body))
    assert await server.store.read(keys.source_key(data["id"])) == body
    job = await server.queue.lease("w", 30, 0)
    assert job is not None and job.video_id == data["id"]
    assert await server.queue.lease("w", 30, 0) is None


async def test_filename_from_content_disposition_never_becomes_a_key(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    status, data, _ = await _post(
        http,
        server.url,
        data=b"some bytes",
        headers={"Content-Disposition": 'attachment; filename="../../etc/passwd.mp4"'},
    )
    assert status == 201, data
    video = await server.catalog.get(data["id"])
    assert video is not None
    assert video.filename == "passwd.mp4"
    assert video.title == "passwd"
    assert await stored_keys(server) == [keys.source_key(data["id"])]


async def test_too_large_by_content_length_is_refused_before_reading(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest(max_upload_size=MiB)
    status, data, headers = await _post(http, server.url, data=payload(2 * MiB))
    assert status == 413
    assert data["error"]["code"] == "payload_too_large"
    assert "1 MiB" in data["error"]["message"]
    assert headers["Cache-Control"] == "no-store"
    await assert_nothing_left(server)


async def test_expect_100_continue_gets_413_without_the_body_being_sent(start_ingest) -> None:
    """RFC 9110 §10.1.1: the server may answer with a final status instead of 100."""
    server = await start_ingest(max_upload_size=MiB)
    port = int(server.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    await assert_nothing_left(server)


async def test_too_large_while_streaming_leaves_nothing(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest(max_upload_size=MiB)
    status, data, _ = await _post(http, server.url, data=generated(3 * MiB))  # chunked
    assert status == 413
    assert data["error"]["code"] == "payload_too_large"
    assert "1 MiB" in data["error"]["message"]
    await assert_nothing_left(server)


async def test_an_upload_exactly_at_the_limit_is_accepted(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest(max_upload_size=MiB)
    status, data, _ = await _post(http, server.url, data=generated(MiB))
    assert status == 201, data


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


@pytest.mark.parametrize("kind", ["content-length", "chunked", "multipart"])
async def test_empty_body_is_refused(server, http, kind: str) -> None:
    data: Any
    if kind == "content-length":
        data = b""
    elif kind == "chunked":
        data = _empty()
    else:
        data = aiohttp.FormData()
        data.add_field("file", b"", filename="empty.mp4")
    status, answer, _ = await _post(http, server.url, data=data)
    assert status == 400
    assert answer["error"]["code"] == "empty_body"
    await assert_nothing_left(server)


async def test_multipart_without_file_is_refused(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("title", "no file here")
    form.add_field("other", "x")
    status, answer, _ = await _post(http, server.url, data=form)
    assert status == 400
    assert answer["error"]["code"] == "missing_file"
    await assert_nothing_left(server)


async def test_malformed_multipart_is_a_400_not_a_500(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    status, answer, _ = await _post(
        http,
        server.url,
        data=b"--nope\r\nthis is not a form",
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert status == 400, answer
    await assert_nothing_left(server)


async def test_invalid_title_is_refused(server: IngestServer, http: aiohttp.ClientSession) -> None:
    status, answer, _ = await _post(http, server.url, data=b"abc", params={"title": "x" * 201})
    assert status == 400
    assert answer["error"]["code"] == "invalid_parameter"
    await assert_nothing_left(server)


# -- idempotency --------------------------------------------------------------------------


async def test_retry_with_the_same_idempotency_key_returns_the_same_video(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    headers = {"Idempotency-Key": "upload-42"}
    first = await _post(http, server.url, data=payload(1000), headers=headers)
    again = await _post(http, server.url, data=payload(1000), headers=headers)
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert again[2]["Location"] == first[2]["Location"]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[2]
    videos, _ = await server.catalog.list()
    assert [v.id for v in videos] == [first[1]["id"]]
    assert await server.queue.depth() == 1

    other = await _post(http, server.url, data=payload(1000), headers={"Idempotency-Key": "k2"})
    assert other[1]["id"] != first[1]["id"]


async def test_duplicate_while_the_first_is_uploading_gets_409(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield payload(64 * 1024)
        await release.wait()
        yield payload(64 * 1024)

    headers = {"Idempotency-Key": "same"}
    first = asyncio.create_task(_post(http, server.url, data=slow_body(), headers=headers))
    await eventually(lambda: temp_files(server))  # the first upload is being stored
    status, answer, _ = await _post(http, server.url, data=b"dup", headers=headers)
    assert status == 409
    assert answer["error"]["code"] == "idempotency_in_progress"
    release.set()
    first_status, first_answer, _ = await first
    assert first_status == 201
    replay = await _post(http, server.url, data=b"dup", headers=headers)
    assert replay[1]["id"] == first_answer["id"]
    assert await server.queue.depth() == 1


async def test_a_failed_upload_releases_its_idempotency_key(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest(max_upload_size=MiB)
    headers = {"Idempotency-Key": "retry-me"}
    status, _, _ = await _post(http, server.url, data=generated(2 * MiB), headers=headers)
    assert status == 413
    status, answer, replayed = await _post(http, server.url, data=b"small", headers=headers)
    assert status == 201, answer
    assert "Idempotent-Replayed" not in replayed


@pytest.mark.parametrize("key", ["k" * 256, "", "has space"])
async def test_bad_idempotency_keys_are_refused(server, http, key: str) -> None:
    status, answer, _ = await _post(http, server.url, data=b"abc", headers={"Idempotency-Key": key})
    assert status == 400
    assert "Idempotency-Key" in answer["error"]["message"]
    await assert_nothing_left(server)


# -- interrupted uploads ------------------------------------------------------------------


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize("form", [False, True], ids=["raw", "multipart"])
async def test_client_disconnect_mid_upload_leaves_nothing_and_server_keeps_serving(
    server: IngestServer, http: aiohttp.ClientSession, form: bool
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    content_type = b"multipart/form-data; boundary=BOUND" if form else b"video/mp4"
    writer.write(
        b"POST /v1/videos?filename=cut.mp4 HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: " + content_type + b"\r\n"
        b"Transfer-Encoding: chunked\r\nIdempotency-Key: cut-short\r\n\r\n"
    )
    if form:
        writer.write(
            _chunked(
                b'--BOUND\r\nContent-Disposition: form-data; name="file"; filename="cut.mp4"\r\n'
                b"Content-Type: video/mp4\r\n\r\n"
            )
        )
    chunk = payload(256 * 1024)
    for _ in range(8):  # 2 MiB of a body that never ends
        writer.write(_chunked(chunk))
    await writer.drain()
    await eventually(lambda: temp_files(server))  # streaming into the store has begun
    writer.close()
    await writer.wait_closed()

    await eventually(lambda: not temp_files(server))
    await assert_nothing_left(server)
    async with http.get(server.url + "/healthz") as response:
        assert response.status == 200
    # The key was released with the failed upload: a retry goes through.
    status, answer, _ = await _post(
        http, server.url, data=b"whole", headers={"Idempotency-Key": "cut-short"}
    )
    assert status == 201, answer


class _StoreFailingMidStream(LocalStore):
    """A real local store whose disk 'fills up' after `fail_after` bytes of an upload."""

    fail_after = MiB

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], **kwargs: Any) -> Any:
        async def until_full() -> AsyncIterator[bytes]:
            seen = 0
            async for chunk in chunks:
                seen += len(chunk)
                if seen > self.fail_after:
                    raise OSError(errno.ENOSPC, "No space left on device")
                yield chunk

        return await super().put_stream(key, until_full(), **kwargs)


async def test_store_failure_mid_upload_is_503_and_leaves_nothing(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = Settings(data_dir=tmp_path).validate()
    backends = Backends.from_settings(settings)
    backends.store_ = _StoreFailingMidStream(tmp_path / "store")
    app = base_app(settings, backends)
    add_routes(app)
    async with running_ingest(settings, app) as server:
        status, answer, headers = await _post(http, server.url, data=generated(3 * MiB))
        assert status == 503
        assert answer["error"]["code"] == "store_unavailable"
        assert "Retry-After" in headers
        await assert_nothing_left(server)


async def test_queue_failure_undoes_the_upload(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    await server.queue.close()  # the queue goes away; the catalogue still answers
    status, answer, headers = await _post(http, server.url, data=payload(1000))
    assert status == 503
    assert answer["error"]["code"] == "queue_unavailable"
    assert headers["Retry-After"]
    videos, _ = await server.catalog.list()
    assert videos == []
    assert await stored_keys(server) == []
    assert temp_files(server) == []
