"""GET/PATCH/DELETE /v1/videos/<id> and GET /v1/videos through a real server."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from tests.support.ingest_server import IngestServer, StartIngest
from tests.upload.helpers import payload, stored_keys
from vodstack import keys
from vodstack.catalog import Rendition, Video, VideoStatus

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def _get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with http.get(url, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def _upload(server: IngestServer, http: aiohttp.ClientSession, **params: str) -> str:
    async with http.post(server.url + "/v1/videos", data=payload(5000), params=params) as response:
        assert response.status == 201
        return str((await response.json())["id"])


async def test_queued_video_status(server: IngestServer, http: aiohttp.ClientSession) -> None:
    video_id = await _upload(server, http, filename="a.mp4")
    status, data, headers = await _get(http, f"{server.url}/v1/videos/{video_id}")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert data["status"] == "queued"
    assert (data["id"], data["filename"], data["title"], data["size"]) == (
        video_id,
        "a.mp4",
        "a",
        5000,
    )
    assert ISO_UTC.fullmatch(data["created_at"]) and ISO_UTC.fullmatch(data["updated_at"])
    assert data["attempts"] == 0
    for absent in ("progress", "error", "playback_url", "renditions", "poster_url"):
        assert absent not in data


async def test_processing_video_shows_progress(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    video_id = await _upload(server, http)
    await server.catalog.update(video_id, status=VideoStatus.PROCESSING, progress=42.46, attempts=1)
    _, data, _ = await _get(http, f"{server.url}/v1/videos/{video_id}")
    assert (data["status"], data["progress"], data["attempts"]) == ("processing", 42.5, 1)


async def test_failed_video_says_why(server: IngestServer, http: aiohttp.ClientSession) -> None:
    video_id = await _upload(server, http)
    reason = "This file is not a video: no video stream found."
    await server.catalog.update(video_id, status=VideoStatus.FAILED, error=reason, attempts=1)
    _, data, _ = await _get(http, f"{server.url}/v1/videos/{video_id}")
    assert (data["status"], data["error"]) == ("failed", reason)
    assert "progress" not in data and "playback_url" not in data


async def test_ready_video_has_renditions_and_urls(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    video_id = await _upload(server, http)
    renditions = (
        Rendition("720p", 1280, 720, 3_200_000, 2_800_000, "avc1.64001f,mp4a.40.2", 30.0),
        Rendition("360p", 640, 360, 900_000, 800_000, "avc1.64001e,mp4a.40.2", 30.0),
    )
    await server.catalog.update(
        video_id,
        status=VideoStatus.READY,
        duration=10.0,
        renditions=renditions,
        version="v1a2b3c4",
        progress=100.0,
    )
    _, data, _ = await _get(http, f"{server.url}/v1/videos/{video_id}")
    assert data["status"] == "ready"
    assert data["duration"] == 10.0
    assert data["playback_url"] == f"{server.url}/v/{video_id}/master.m3u8"
    assert data["poster_url"] == f"{server.url}/v/{video_id}/v1a2b3c4/poster.jpg"
    assert data["renditions"][0] == {
        "name": "720p",
        "width": 1280,
        "height": 720,
        "resolution": "1280x720",
        "bandwidth": 3_200_000,
        "average_bandwidth": 2_800_000,
        "codecs": "avc1.64001f,mp4a.40.2",
        "frame_rate": 30.0,
    }
    assert [r["name"] for r in data["renditions"]] == ["720p", "360p"]


@pytest.mark.parametrize(
    "video_id", ["AAAAAAAAAAAAAAAA", "short", "..%2F..%2Fetc", "x" * 300, "AAAAAAAAAAAAAAA%00"]
)
async def test_unknown_or_malformed_ids_are_404(server, http, video_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        async with http.request(
            method, f"{server.url}/v1/videos/{video_id}", json={"title": "x"}
        ) as response:
            assert response.status == 404, (method, video_id)
            body = await response.json()
            assert body["error"]["code"] == "video_not_found"
            assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/videos", {"GET", "POST"}),
        ("DELETE", "/v1/videos", {"GET", "POST"}),
        ("POST", "/v1/videos/AAAAAAAAAAAAAAAA", {"GET", "PATCH", "DELETE"}),
        ("PUT", "/v1/videos/AAAAAAAAAAAAAAAA", {"GET", "PATCH", "DELETE"}),
    ],
)
async def test_methods_not_allowed_are_405_json(
    server, http, method: str, path: str, allowed: set[str]
) -> None:
    async with http.request(method, server.url + path) as response:
        assert response.status == 405
        assert (await response.json())["error"]["code"] == "method_not_allowed"
        assert allowed <= set(response.headers["Allow"].split(","))
        assert response.headers["Cache-Control"] == "no-store"


# -- listing -----------------------------------------------------------------------------


async def _seed(server: IngestServer, count: int) -> list[str]:
    """`count` videos with distinct creation times; returns ids newest first."""
    ids = []
    for n in range(count):
        video = Video(
            id=keys.new_video_id(),
            created_at=1_700_000_000.0 + n,
            status=VideoStatus.READY if n % 2 else VideoStatus.QUEUED,
            title=f"video {n}",
        )
        await server.catalog.create(video)
        ids.append(video.id)
    return ids[::-1]


async def test_list_pages_newest_first_with_next_cursor(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    expected = await _seed(server, 5)
    seen: list[str] = []
    url: str | None = f"{server.url}/v1/videos?limit=2"
    pages = 0
    while url:
        status, page, headers = await _get(http, url)
        assert status == 200
        assert headers["Cache-Control"] == "no-store"
        pages += 1
        seen += [v["id"] for v in page["videos"]]
        assert (page["next_cursor"] is None) == (page["next_url"] is None)
        if page["next_cursor"]:
            assert "limit=2" in page["next_url"]
            assert f"cursor={page['next_cursor']}" in page["next_url"]
        url = page["next_url"]
    assert pages == 3
    assert seen == expected


async def test_list_filters_by_status_across_pages(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    await _seed(server, 5)
    query = {"status": "ready", "limit": "1"}
    _, page, _ = await _get(http, f"{server.url}/v1/videos", params=query)
    assert [v["status"] for v in page["videos"]] == ["ready"]
    assert "status=ready" in page["next_url"]
    _, second, _ = await _get(http, page["next_url"])
    assert [v["status"] for v in second["videos"]] == ["ready"]
    assert second["next_cursor"] is None
    assert second["videos"][0]["id"] != page["videos"][0]["id"]


async def test_list_default_page_is_20(server: IngestServer, http: aiohttp.ClientSession) -> None:
    await _seed(server, 21)
    _, page, _ = await _get(http, f"{server.url}/v1/videos")
    assert len(page["videos"]) == 20 and page["next_cursor"]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"status": "done"},
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJ4IiwgMV0"},  # valid base64 JSON, wrong shape
    ],
)
async def test_invalid_list_parameters_are_400(server, http, query: dict[str, str]) -> None:
    status, body, _ = await _get(http, f"{server.url}/v1/videos", params=query)
    assert status == 400
    assert body["error"]["code"] == "invalid_parameter"
    assert next(iter(query)) in body["error"]["message"]


# -- PATCH -------------------------------------------------------------------------------


async def test_patch_title(server: IngestServer, http: aiohttp.ClientSession) -> None:
    video_id = await _upload(server, http, filename="raw.mp4")
    async with http.patch(
        f"{server.url}/v1/videos/{video_id}", json={"title": "  A better title  "}
    ) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert (await response.json())["title"] == "A better title"
    video = await server.catalog.get(video_id)
    assert video is not None and video.title == "A better title"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"title": ""}', "invalid_parameter"),
        (b'{"title": "   "}', "invalid_parameter"),
        (('{"title": "' + "x" * 201 + '"}').encode(), "invalid_parameter"),
        (b'{"title": 5}', "invalid_parameter"),
        (b'{"title": "ok", "status": "ready"}', "invalid_parameter"),
        (b"{}", "invalid_parameter"),
        (b"[1, 2]", "bad_request"),
        (b"{not json", "bad_request"),
        (b"", "bad_request"),
        (b"\xff\xfe", "bad_request"),
    ],
)
async def test_patch_rejects_bad_input(server, http, body: bytes, code: str) -> None:
    video_id = await _upload(server, http)
    async with http.patch(
        f"{server.url}/v1/videos/{video_id}",
        data=body,
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == code
    video = await server.catalog.get(video_id)
    assert video is not None and video.status is VideoStatus.QUEUED


# -- DELETE ------------------------------------------------------------------------------


async def test_delete_removes_record_objects_and_job(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    keep = await _upload(server, http)
    video_id = await _upload(server, http)
    for key in (
        keys.master_key(video_id),
        keys.poster_key(video_id, "v1"),
        keys.rendition_prefix(video_id, "v1", "360p") + "0.m4s",
    ):
        await server.store.put_bytes(key, b"x", content_type="application/octet-stream")

    async with http.delete(f"{server.url}/v1/videos/{video_id}") as response:
        assert response.status == 204
        assert response.headers["Cache-Control"] == "no-store"
    assert await server.catalog.get(video_id) is None
    assert await stored_keys(server) == [keys.source_key(keep)]
    job = await server.queue.lease("w", 30, 0)
    assert job is not None and job.video_id == keep  # the deleted video's job is cancelled
    assert await server.queue.lease("w", 30, 0) is None

    status, body, _ = await _get(http, f"{server.url}/v1/videos/{video_id}")
    assert status == 404 and body["error"]["code"] == "video_not_found"
    async with http.delete(f"{server.url}/v1/videos/{video_id}") as response:
        assert response.status == 404


# -- absolute URLs -----------------------------------------------------------------------


async def test_urls_follow_x_forwarded_headers(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    headers = {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "videos.example.org"}
    async with http.post(server.url + "/v1/videos", data=b"abc", headers=headers) as response:
        created = await response.json()
        assert response.headers["Location"].startswith("https://videos.example.org/v1/videos/")
    assert created["playback_url"] == f"https://videos.example.org/v/{created['id']}/master.m3u8"
    _, data, _ = await _get(
        http,
        created["status_url"].replace("https://videos.example.org", server.url),
        headers=headers,
    )
    assert data["status_url"].startswith("https://videos.example.org/")


async def test_forged_forwarded_host_is_not_echoed(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    headers = {"X-Forwarded-Host": "evil.example/<script>", "X-Forwarded-Proto": "javascript"}
    await _seed(server, 2)
    _, page, _ = await _get(http, f"{server.url}/v1/videos?limit=1", headers=headers)
    assert page["next_url"].startswith(server.url + "/v1/videos?")


async def test_public_url_setting_wins(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest(public_url="https://cdn.example.com/")
    async with http.post(
        server.url + "/v1/videos", data=b"abc", headers={"X-Forwarded-Host": "other.example"}
    ) as response:
        created = await response.json()
    assert created["status_url"] == f"https://cdn.example.com/v1/videos/{created['id']}"
