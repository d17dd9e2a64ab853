"""`/metrics`, request ids and access logs of real servers (origin, upload API) on loopback."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.ingest_server import running_ingest
from tests.support.origin_server import OTHER_VIDEO_ID, VIDEO_ID, running_origin
from tests.support.rawhttp import raw_request
from tests.support.redis_server import RedisServer
from tests.support.scrape import scrape
from vodstack.embedded import EmbeddedStack
from vodstack.metrics.jobs import QUEUE_PROBE_TIMEOUT
from vodstack.settings import Settings
from vodstack.store.metered import MeteredStore
from vodstack.web import BACKENDS

pytestmark = pytest.mark.timeout(60)

SEGMENT = f"videos/{VIDEO_ID}/v1/720p/3.m4s"
SEGMENT_BYTES = bytes(range(256)) * 40
MEDIA_ROUTE = "/v/{video_id}/{path}"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def test_requests_counted_by_route_template_and_status(tmp_path: Path) -> None:
    async with running_origin(tmp_path) as origin, aiohttp.ClientSession() as http:
        await origin.store.put_bytes(SEGMENT, SEGMENT_BYTES, content_type="video/iso.segment")
        url = f"{origin.url}/v/{VIDEO_ID}/v1/720p/3.m4s"
        etag = ""
        for _ in range(5):
            async with http.get(url) as response:
                assert response.status == 200 and await response.read() == SEGMENT_BYTES
                etag = response.headers["ETag"]
        for _ in range(2):
            async with http.get(url, headers={"If-None-Match": etag}) as response:
                assert response.status == 304
        for n in range(3):
            async with http.get(f"{origin.url}/v/{OTHER_VIDEO_ID}/v1/720p/{n}.m4s") as response:
                assert response.status == 404
        async with http.delete(url) as response:
            assert response.status == 405
        async with http.get(f"{origin.url}/no/such/{VIDEO_ID}") as response:
            assert response.status == 404
        metrics = await scrape(origin.url, http)

    requests = "vodstack_http_requests_total"
    assert metrics.families["vodstack_http_requests"] == "counter"
    assert metrics.families["vodstack_http_request_duration_seconds"] == "histogram"
    assert metrics.value(requests, route=MEDIA_ROUTE, method="GET", status="200") == 5
    assert metrics.value(requests, route=MEDIA_ROUTE, method="GET", status="304") == 2
    assert metrics.value(requests, route=MEDIA_ROUTE, method="GET", status="404") == 3
    assert metrics.value(requests, route="unmatched", method="DELETE", status="405") == 1
    assert metrics.value(requests, route="unmatched", method="GET", status="404") == 1
    assert metrics.value(requests) == 12  # the scrape itself is counted after it is sent
    for labels in metrics.series(requests):
        count = metrics.value("vodstack_http_request_duration_seconds_count", **labels)
        assert count == metrics.value(requests, **labels)
    # Video ids and file names never become label values.
    assert not any(
        VIDEO_ID in value or OTHER_VIDEO_ID in value or "m4s" in value
        for sample in metrics.samples for value in sample.labels.values()
    )
    sent = metrics.value("vodstack_http_response_bytes_total", route=MEDIA_ROUTE, method="GET")
    assert 5 * len(SEGMENT_BYTES) < sent < 5 * len(SEGMENT_BYTES) + 12 * 1024  # + header fields
    assert metrics.value("vodstack_http_requests_in_flight") == 1  # the scrape


async def test_store_operations_are_metered(tmp_path: Path) -> None:
    async with running_origin(tmp_path, store_timeout=2.0) as origin:
        assert isinstance(origin.store, MeteredStore)
        await origin.store.put_bytes(SEGMENT, SEGMENT_BYTES, content_type="video/iso.segment")
        async with aiohttp.ClientSession() as http:
            url = f"{origin.url}/v/{VIDEO_ID}/v1/720p/3.m4s"
            for _ in range(3):
                async with http.get(url) as response:
                    await response.read()
            before = await scrape(origin.url, http)
            shutil.rmtree(origin.store_dir / "data")
            (origin.store_dir / "data").write_bytes(b"not a directory")
            async with http.get(url) as response:
                assert response.status == 503
            after = await scrape(origin.url, http)

    duration = "vodstack_store_operation_duration_seconds_count"
    assert before.value(duration, operation="put_bytes") == 1
    assert before.value("vodstack_store_written_bytes_total") == len(SEGMENT_BYTES)
    served = before.value(duration, operation="head") + before.value(duration, operation="open")
    assert served >= 3
    assert before.value("vodstack_store_operation_errors_total") == 0
    assert after.value("vodstack_store_operation_errors_total") >= 1
    assert after.label_values("vodstack_store_operation_errors_total", "kind") <= {
        "unavailable", "os_error", "timeout"
    }


async def test_missing_objects_are_not_store_errors(tmp_path: Path) -> None:
    async with running_origin(tmp_path) as origin, aiohttp.ClientSession() as http:
        for n in range(4):
            async with http.get(f"{origin.url}/v/{VIDEO_ID}/v1/720p/{n}.m4s") as response:
                assert response.status == 404
        metrics = await scrape(origin.url, http)
    assert metrics.value("vodstack_store_operation_duration_seconds_count") >= 4
    assert metrics.value("vodstack_store_operation_errors_total") == 0


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("trace-42.a:b_c", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("inject\u2028line", False),
        ("", False),
    ],
)
async def test_request_id_kept_when_sane_else_generated(
    tmp_path: Path, sent: str, kept: bool
) -> None:
    async with running_origin(tmp_path) as origin:
        response = await raw_request(
            "127.0.0.1", origin.port, "GET", "/healthz",
            {"X-Request-Id": sent.encode().decode("latin-1")},
        )
    assert response.status == 200
    returned = response.headers["x-request-id"]
    if kept:
        assert returned == sent
    else:
        assert GENERATED_ID.fullmatch(returned)


async def test_every_answer_carries_a_request_id_even_errors(tmp_path: Path) -> None:
    async with running_origin(tmp_path) as origin, aiohttp.ClientSession() as http:
        seen = set()
        for path in ("/healthz", "/nothing", f"/v/{VIDEO_ID}/master.m3u8", "/v/%00/x"):
            async with http.get(origin.url + path) as response:
                assert GENERATED_ID.fullmatch(response.headers["X-Request-Id"])
                seen.add(response.headers["X-Request-Id"])
        assert len(seen) == 4


async def test_access_log_line_per_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="vodstack.access")
    async with running_origin(tmp_path) as origin, aiohttp.ClientSession() as http:
        await origin.store.put_bytes(SEGMENT, SEGMENT_BYTES, content_type="video/iso.segment")
        target = f"/v/{VIDEO_ID}/v1/720p/3.m4s?token=secret"
        async with http.get(origin.url + target, headers={"X-Request-Id": "req-7"}) as response:
            await response.read()
        async with http.get(origin.url + "/healthz") as response:
            await response.read()
    lines = [r for r in caplog.records if r.name == "vodstack.access"]
    media = [r for r in lines if getattr(r, "route", None) == MEDIA_ROUTE]
    assert len(media) == 1
    record = media[0]
    fields = {name: getattr(record, name) for name in (
        "method", "path", "route", "status", "request_id", "remote"
    )}
    assert fields == {
        "method": "GET", "path": f"/v/{VIDEO_ID}/v1/720p/3.m4s", "route": MEDIA_ROUTE,
        "status": 200, "request_id": "req-7", "remote": "127.0.0.1",
    }
    assert record.bytes > len(SEGMENT_BYTES)  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert record.levelno == logging.INFO
    assert "secret" not in record.getMessage()  # query strings (tokens) stay out of logs
    health = [r for r in lines if getattr(r, "route", None) == "/healthz"]
    assert len(health) == 1 and health[0].levelno == logging.DEBUG  # probes stay quiet


async def test_expect_continue_refusal_is_counted_and_carries_an_id(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_upload_size=1000)
    async with running_ingest(settings) as server:
        port = int(server.url.rsplit(":", 1)[1])
        async with asyncio.timeout(10):
            status, headers = await _refused_expect(port)
        assert status == 413
        assert headers["x-request-id"] == "big-upload-1"
        metrics = await scrape(server.url)
    assert metrics.value(
        "vodstack_http_requests_total", route="/v1/videos", method="POST", status="413"
    ) == 1
    assert metrics.value("vodstack_http_request_duration_seconds_count", route="/v1/videos") == 1


async def _refused_expect(port: int) -> tuple[int, dict[str, str]]:
    """Send only the header of an oversized upload with `Expect: 100-continue`; read the
    refusal (the body is never sent, so the server keeps waiting for it: no read to EOF)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            b"Content-Length: 5000\r\nExpect: 100-continue\r\nX-Request-Id: big-upload-1\r\n\r\n"
        )
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    finally:
        writer.close()
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


async def test_queue_depth_is_asked_at_scrape_time(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    async with running_ingest(settings) as server:
        first = await scrape(server.url)
        for n in range(3):
            await server.queue.enqueue(f"video{n:011d}", {}, max_attempts=3)
        second = await scrape(server.url)
        job = await server.queue.lease("w1", 30.0, 0.1)
        assert job is not None
        third = await scrape(server.url)
    assert first.families["vodstack_queue_depth"] == "gauge"
    assert [m.value("vodstack_queue_depth") for m in (first, second, third)] == [0, 3, 2]
    assert third.value("vodstack_queue_reachable") == 1


async def test_queue_depth_left_out_when_the_queue_does_not_answer(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis:
        settings = Settings(
            data_dir=tmp_path, queue=redis.url(prefix="metrics"), redis_timeout=1.0
        )
        async with running_ingest(settings) as server:
            await server.queue.enqueue("video0000000001", {}, max_attempts=3)
            up = await scrape(server.url)
            redis.stop()
            started = time.monotonic()
            down = await scrape(server.url)
            elapsed = time.monotonic() - started
    assert up.value("vodstack_queue_depth") == 1 and up.value("vodstack_queue_reachable") == 1
    assert down.value("vodstack_queue_reachable") == 0
    assert down.matching("vodstack_queue_depth") == []
    assert elapsed < QUEUE_PROBE_TIMEOUT + 3  # bounded: the scrape never hangs on the queue


async def test_serve_counts_each_request_once_under_the_route_that_answers_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`vodstack serve`: the edge and the services behind it share one registry; the edge
    records every request, with the services' route templates, hits from its cache too."""
    caplog.set_level(logging.INFO, logger="vodstack.access")
    settings = Settings(
        data_dir=tmp_path / "data", port=0, worker_concurrency=0, health_check_interval=0.0
    ).validate()
    stack = EmbeddedStack(settings)
    url = await stack.start()
    try:
        assert stack.internal_app is not None
        store = stack.internal_app[BACKENDS].store
        await store.put_bytes(SEGMENT, SEGMENT_BYTES, content_type="video/iso.segment")
        async with aiohttp.ClientSession() as http:
            for n in range(3):
                headers = {"X-Request-Id": f"serve-{n}"}
                async with http.get(url + f"/v/{VIDEO_ID}/v1/720p/3.m4s", headers=headers) as r:
                    assert r.status == 200 and await r.read() == SEGMENT_BYTES
            async with http.get(url + "/v1/videos") as response:
                assert response.status == 200
            async with http.get(url + "/no/such/page") as response:
                assert response.status == 404
            metrics = await scrape(url, http)
    finally:
        await stack.stop()

    requests = "vodstack_http_requests_total"
    assert metrics.value(requests, route=MEDIA_ROUTE, method="GET", status="200") == 3
    assert metrics.value(requests, route="/v1/videos", method="GET", status="200") == 1
    assert metrics.value(requests, route="unmatched", status="404") == 1
    assert metrics.value(requests) == 5
    assert "/{tail}" not in metrics.label_values(requests, "route")
    assert metrics.value("vodstack_edge_requests_total", cache="miss") == 1
    assert metrics.value("vodstack_edge_requests_total", cache="hit") == 2
    store_calls = "vodstack_store_operation_duration_seconds_count"
    assert metrics.value(store_calls, operation="put_bytes") == 1
    assert "vodstack_queue_depth" in metrics.families
    lines = [r for r in caplog.records if r.name == "vodstack.access"]
    media = [r for r in lines if getattr(r, "route", None) == MEDIA_ROUTE]
    assert [getattr(r, "request_id", None) for r in media] == ["serve-0", "serve-1", "serve-2"]
    assert len(lines) == 5  # one line per request: the app behind the edge logs none


async def test_a_generated_request_id_is_the_one_the_job_carries(tmp_path: Path) -> None:
    async with running_ingest(Settings(data_dir=tmp_path)) as server:
        async with (
            aiohttp.ClientSession() as http,
            http.post(server.url + "/v1/videos?filename=a.mp4", data=b"bytes") as response,
        ):
            assert response.status == 201
            created = await response.json()
        generated = response.headers["X-Request-Id"]
        assert GENERATED_ID.fullmatch(generated)
        video = await server.catalog.get(created["id"])
        job = await server.queue.lease("w1", 30.0, 0.1)
    assert video is not None and video.request_id == generated
    assert job is not None and job.payload["request_id"] == generated
