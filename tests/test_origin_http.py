"""The origin over real HTTP: a real aiohttp server on loopback over a real LocalStore."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from origin.validators import format_http_date
from tests.support.origin_server import (
    OTHER_VIDEO_ID,
    SERVERS,
    VIDEO_ID,
    RunningOrigin,
    running_origin,
)
from tests.support.rawhttp import raw_request
from vodstack.media import (
    FINISHED_PLAYLIST,
    GROWING_PLAYLIST,
    IMMUTABLE,
    NOT_FOUND,
    cache_control_for,
    content_type_for,
)
from vodstack.store import ObjectInfo

MASTER = f"videos/{VIDEO_ID}/master.m3u8"
SEGMENT = f"videos/{VIDEO_ID}/v1/720p/3.m4s"
SEGMENT_BYTES = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable


@pytest.fixture(params=SERVERS)
async def origin(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RunningOrigin]:
    """Every test runs against both servers of the origin app (the same answers)."""
    async with running_origin(tmp_path, server=request.param) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def put(
    origin: RunningOrigin, key: str, data: bytes, cache_control: str | None = None
) -> ObjectInfo:
    return await origin.store.put_bytes(
        key, data, content_type="application/octet-stream", cache_control=cache_control
    )


def media_url(origin: RunningOrigin, key: str) -> str:
    return origin.url + "/v/" + key.removeprefix("videos/")


@pytest.mark.parametrize(
    ("name", "content_type", "cache_control"),
    [
        ("master.m3u8", "application/vnd.apple.mpegurl", FINISHED_PLAYLIST),
        ("v1/720p/index.m3u8", "application/vnd.apple.mpegurl", FINISHED_PLAYLIST),
        ("v1/720p/init.mp4", "video/mp4", IMMUTABLE),
        ("v1/720p/3.m4s", "video/iso.segment", IMMUTABLE),
        ("v1/360p/12.ts", "video/mp2t", IMMUTABLE),
        ("v1/poster.jpg", "image/jpeg", IMMUTABLE),
    ],
)
async def test_each_object_type_has_its_content_type_and_cache_policy(
    origin: RunningOrigin,
    http: aiohttp.ClientSession,
    name: str,
    content_type: str,
    cache_control: str,
) -> None:
    key = f"videos/{VIDEO_ID}/{name}"
    data = os.urandom(3000)
    info = await put(origin, key, data)
    async with http.get(media_url(origin, key)) as response:
        body = await response.read()
        assert response.status == 200
        assert body == data
        headers = response.headers
    assert headers["Content-Type"] == content_type == content_type_for(key)
    assert headers["Cache-Control"] == cache_control == cache_control_for(key)
    assert headers["ETag"] == info.etag == f'"{hashlib.md5(data).hexdigest()}"'
    assert headers["Last-Modified"] == format_http_date(info.last_modified)
    assert headers["Content-Length"] == "3000"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip() for h in headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Content-Length", "Content-Range", "ETag", "Accept-Ranges"} <= exposed
    assert "Vary" not in headers


async def test_stored_cache_control_wins_over_the_policy(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    playlist = f"videos/{VIDEO_ID}/v1/720p/index.m3u8"
    await put(origin, playlist, b"#EXTM3U\n", cache_control=GROWING_PLAYLIST)
    async with http.get(media_url(origin, playlist)) as response:
        assert response.headers["Cache-Control"] == GROWING_PLAYLIST


async def test_head_has_the_get_headers_and_no_body(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    await put(origin, SEGMENT, SEGMENT_BYTES)
    async with http.get(media_url(origin, SEGMENT)) as got:
        get_headers = CIMultiDict(got.headers)
    raw = await raw_request(origin.host, origin.port, "HEAD", "/v/" + SEGMENT[7:])
    assert raw.status == 200
    assert raw.body == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control",
                 "Accept-Ranges", "Access-Control-Allow-Origin"):
        assert raw.headers[name.lower()] == get_headers[name], name
    assert raw.headers["content-length"] == str(len(SEGMENT_BYTES))


@pytest.mark.parametrize("path", [f"/v/{VIDEO_ID}/720p/%00/x.m4s", f"/v/{VIDEO_ID}/none.m4s"])
async def test_a_head_error_has_no_body(origin: RunningOrigin, path: str) -> None:
    """The JSON error a GET would carry is never sent after a HEAD's header (a proxy
    would read it as the start of the next answer)."""
    raw = await raw_request(origin.host, origin.port, "HEAD", path)
    assert 400 <= raw.status < 500
    assert raw.body == b""


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_if_none_match_gives_304_with_validators_and_no_body(
    origin: RunningOrigin, method: str
) -> None:
    info = await put(origin, MASTER, b"#EXTM3U\n")
    for value in (info.etag, f"W/{info.etag}", f'"nope", {info.etag}', "*"):
        raw = await raw_request(
            origin.host, origin.port, method, "/v/" + MASTER[7:], {"If-None-Match": value}
        )
        assert raw.status == 304, value
        assert raw.body == b""
        assert raw.headers["etag"] == info.etag
        assert raw.headers["cache-control"] == FINISHED_PLAYLIST
        assert raw.headers["last-modified"] == format_http_date(info.last_modified)
        assert raw.headers["access-control-allow-origin"] == "*"


async def test_if_none_match_with_another_tag_sends_the_object(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    await put(origin, MASTER, b"#EXTM3U\n")
    async with http.get(media_url(origin, MASTER), headers={"If-None-Match": '"old"'}) as r:
        assert r.status == 200
        assert await r.read() == b"#EXTM3U\n"


async def test_if_modified_since_gives_304_only_when_not_modified(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    info = await put(origin, MASTER, b"#EXTM3U\n")
    last_modified = format_http_date(info.last_modified)
    earlier = format_http_date(info.last_modified - 10)
    url = media_url(origin, MASTER)
    async with http.get(url, headers={"If-Modified-Since": last_modified}) as r:
        assert r.status == 304
        assert r.headers["ETag"] == info.etag
    async with http.get(url, headers={"If-Modified-Since": earlier}) as r:
        assert r.status == 200
        assert await r.read() == b"#EXTM3U\n"
    async with http.get(url, headers={"If-Modified-Since": "not a date"}) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-355", 100, 355),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-500", 9740, 10239),
        ("bytes=-99999", 0, 10239),
        ("bytes=10200-99999", 10200, 10239),
        ("bytes=0-", 0, 10239),
    ],
)
async def test_range_gives_206_with_exactly_those_bytes(
    origin: RunningOrigin, http: aiohttp.ClientSession, range_header: str, start: int, end: int
) -> None:
    info = await put(origin, SEGMENT, SEGMENT_BYTES)
    async with http.get(media_url(origin, SEGMENT), headers={"Range": range_header}) as r:
        body = await r.read()
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(SEGMENT_BYTES)}"
        assert r.headers["Content-Length"] == str(end - start + 1)
        assert r.headers["ETag"] == info.etag
        assert r.headers["Cache-Control"] == IMMUTABLE
    assert body == SEGMENT_BYTES[start : end + 1]


async def test_unsatisfiable_range_gives_416_with_the_size(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    await put(origin, SEGMENT, SEGMENT_BYTES)
    async with http.get(media_url(origin, SEGMENT), headers={"Range": "bytes=20000-"}) as r:
        assert r.status == 416
        assert r.headers["Content-Range"] == f"bytes */{len(SEGMENT_BYTES)}"
        assert (await r.json())["error"]["code"] == "range_not_satisfiable"
        assert r.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "range_header", ["bytes=50-10", "bytes=abc", "pages=1-2", "bytes=0-9,900-909"]
)
async def test_invalid_or_multiple_far_apart_ranges_give_the_whole_object(
    origin: RunningOrigin, http: aiohttp.ClientSession, range_header: str
) -> None:
    await put(origin, SEGMENT, SEGMENT_BYTES)
    async with http.get(media_url(origin, SEGMENT), headers={"Range": range_header}) as r:
        assert r.status == 200
        assert "Content-Range" not in r.headers
        assert await r.read() == SEGMENT_BYTES


async def test_if_range_serves_the_range_only_for_the_current_object(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    info = await put(origin, SEGMENT, SEGMENT_BYTES)
    url = media_url(origin, SEGMENT)
    for validator in (info.etag, format_http_date(info.last_modified)):
        async with http.get(url, headers={"Range": "bytes=5-9", "If-Range": validator}) as r:
            assert r.status == 206, validator
            assert await r.read() == SEGMENT_BYTES[5:10]
    for validator in ('"stale"', f"W/{info.etag}", format_http_date(info.last_modified - 60)):
        async with http.get(url, headers={"Range": "bytes=5-9", "If-Range": validator}) as r:
            assert r.status == 200, validator
            assert await r.read() == SEGMENT_BYTES


async def test_if_match_mismatch_gives_412(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    await put(origin, SEGMENT, SEGMENT_BYTES)
    async with http.get(media_url(origin, SEGMENT), headers={"If-Match": '"other"'}) as r:
        assert r.status == 412
        assert (await r.json())["error"]["code"] == "precondition_failed"


async def test_zero_length_object(origin: RunningOrigin, http: aiohttp.ClientSession) -> None:
    key = f"videos/{VIDEO_ID}/v1/empty.vtt"
    await put(origin, key, b"")
    async with http.get(media_url(origin, key)) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == "0"
        assert await r.read() == b""
    async with http.get(media_url(origin, key), headers={"Range": "bytes=0-"}) as r:
        assert r.status == 416
        assert r.headers["Content-Range"] == "bytes */0"


async def test_cors_preflight_is_answered(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    headers = {
        "Origin": "https://player.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range, if-none-match",
    }
    async with http.options(media_url(origin, MASTER), headers=headers) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
        assert methods == {"GET", "HEAD", "OPTIONS"}
        allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"range", "if-none-match", "if-modified-since", "if-range"} <= allowed
        assert int(r.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_unpublished_video_is_a_short_lived_json_404(
    origin: RunningOrigin, method: str
) -> None:
    raw = await raw_request(origin.host, origin.port, method, f"/v/{VIDEO_ID}/master.m3u8")
    assert raw.status == 404
    assert raw.headers["cache-control"] == NOT_FOUND == "public, max-age=2"
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["access-control-allow-origin"] == "*"
    if method == "GET":
        assert b'"not_published"' in raw.body


async def test_missing_object_of_a_published_video_is_404(
    origin: RunningOrigin, http: aiohttp.ClientSession
) -> None:
    await put(origin, MASTER, b"#EXTM3U\n")
    async with http.get(origin.url + f"/v/{VIDEO_ID}/v1/720p/99.m4s") as r:
        assert r.status == 404
        assert r.headers["Cache-Control"] == NOT_FOUND
        assert (await r.json())["error"]["code"] == "not_published"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405_with_allow(
    origin: RunningOrigin, http: aiohttp.ClientSession, method: str
) -> None:
    await put(origin, MASTER, b"#EXTM3U\n")
    async with http.request(method, media_url(origin, MASTER)) as r:
        assert r.status == 405
        assert set(r.headers["Allow"].split(",")) == {"GET", "HEAD", "OPTIONS"}
        assert (await r.json())["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/", "/v", "/v/", f"/v/{VIDEO_ID}", "/videos/x", "/favicon.ico"])
async def test_unknown_routes_are_json_404(
    origin: RunningOrigin, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(origin.url + path) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "not_found"


# -- Paths that try to leave the video's prefix -----------------------------------------------

SECRET = b"secret-" + hashlib.sha256(b"not for you").hexdigest().encode()


async def plant_secrets(origin: RunningOrigin) -> None:
    """Secrets everywhere except under videos/<VIDEO_ID>/: raw files and store objects."""
    store_dir = origin.store_dir
    (store_dir / "secret.txt").write_bytes(SECRET)
    (store_dir / "data" / "secret.txt").write_bytes(SECRET)
    (store_dir / "data" / "videos" / "secret.txt").parent.mkdir(parents=True, exist_ok=True)
    (store_dir / "data" / "videos" / "secret.txt").write_bytes(SECRET)
    (store_dir.parent / "secret.txt").write_bytes(SECRET)
    await put(origin, f"uploads/{VIDEO_ID}/source", SECRET)
    await put(origin, MASTER, b"#EXTM3U\n")


TRAVERSALS = [
    f"/v/{VIDEO_ID}/../secret.txt",
    f"/v/{VIDEO_ID}/../../secret.txt",
    f"/v/{VIDEO_ID}/../../../secret.txt",
    f"/v/{VIDEO_ID}/../../uploads/{VIDEO_ID}/source",
    f"/v/{VIDEO_ID}/%2e%2e/secret.txt",
    f"/v/{VIDEO_ID}/%2E%2E/%2E%2E/secret.txt",
    f"/v/{VIDEO_ID}/..%2Fsecret.txt",
    f"/v/{VIDEO_ID}/..%2f..%2fsecret.txt",
    f"/v/{VIDEO_ID}/%2e%2e%2f%2e%2e%2fuploads%2f{VIDEO_ID}%2fsource",
    f"/v/{VIDEO_ID}/..\\secret.txt",
    f"/v/{VIDEO_ID}/..%5csecret.txt",
    f"/v/{VIDEO_ID}/master.m3u8%00.jpg",
    f"/v/{VIDEO_ID}/%00",
    f"/v/{VIDEO_ID}/./master.m3u8",
    f"/v/{VIDEO_ID}//master.m3u8",
    f"/v/{VIDEO_ID}/.secret",
    f"/v/{VIDEO_ID}/%252e%252e/secret.txt",
    f"/v/{VIDEO_ID}/" + "a/" * 10 + "x",
    f"/v/{VIDEO_ID}/" + "a" * 300,
    "/v/../secret.txt",
    "/v/..%2F..%2Fsecret.txt/x",
    "/v/%2e%2e/secret.txt",
    "/v/../uploads/" + VIDEO_ID + "/source",
    f"/v/{VIDEO_ID}%2F..%2F..%2Fsecret.txt/x",
    "/v/short/master.m3u8",
    "/v/" + "A" * 17 + "/master.m3u8",
    f"/v/{VIDEO_ID}/master.m3u8/",
]
# Refused by aiohttp's request parser before any application code runs (plain-text 400/414).
REFUSED_BY_PARSER = [
    f"/v/{VIDEO_ID}/" + "a" * 9000,
    f"/v/{VIDEO_ID}/\u00e9.m3u8".encode().decode("latin-1"),
    f"/v/{VIDEO_ID}/\x7f",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_paths_outside_the_video_are_refused(origin: RunningOrigin, target: str) -> None:
    await plant_secrets(origin)
    async with asyncio.timeout(10):
        raw = await raw_request(origin.host, origin.port, "GET", target)
    assert raw.status in {400, 404}, (target, raw.status, raw.body[:200])
    assert SECRET not in raw.raw
    assert raw.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("target", REFUSED_BY_PARSER)
async def test_unparsable_request_targets_are_refused(origin: RunningOrigin, target: str) -> None:
    await plant_secrets(origin)
    async with asyncio.timeout(10):
        raw = await raw_request(origin.host, origin.port, "GET", target)
    assert raw.status in {400, 414}, (target, raw.status, raw.body[:200])
    assert SECRET not in raw.raw


async def test_the_master_itself_is_served_next_to_the_secrets(origin: RunningOrigin) -> None:
    """The refusals above are not because nothing is served at all."""
    await plant_secrets(origin)
    raw = await raw_request(origin.host, origin.port, "GET", f"/v/{VIDEO_ID}/master.m3u8")
    assert raw.status == 200
    assert raw.body == b"#EXTM3U\n"
    other = await raw_request(origin.host, origin.port, "GET", f"/v/{OTHER_VIDEO_ID}/master.m3u8")
    assert other.status == 404
