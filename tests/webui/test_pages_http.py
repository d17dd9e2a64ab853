"""The pages over real HTTP (no browser): status codes, headers, escaping, assets."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.ingest_server import IngestServer, StartIngest
from vodstack import keys
from vodstack.catalog import Video, VideoStatus

HOSTILE_TITLE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
FAKE_HLSJS = b"/* hls.js stand-in */ window.Hls = function () {};\n" * 50


@pytest.fixture
def fake_hlsjs(tmp_path: Path) -> Path:
    path = tmp_path / "hls.min.js"
    path.write_bytes(FAKE_HLSJS)
    return path


@pytest.fixture
async def server(start_ingest: StartIngest, fake_hlsjs: Path) -> IngestServer:
    return await start_ingest(hlsjs_path=fake_hlsjs)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30), auto_decompress=False
    ) as session:
        yield session


async def get_text(
    http: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, dict[str, str], str]:
    async with http.get(url, **kwargs) as response:
        return response.status, dict(response.headers), await response.text()


def asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)


async def test_library_page(server: IngestServer, http: aiohttp.ClientSession) -> None:
    status, headers, page = await get_text(http, server.url + "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert 'id="upload-input"' in page and 'type="file"' in page
    assert 'type="module"' in page and "library.js" in page
    assert "<script>" not in page  # no inline script: the CSP would refuse it
    assert "Up to 10 GiB each" in page


async def test_head_of_a_page(server: IngestServer, http: aiohttp.ClientSession) -> None:
    async with http.head(server.url + "/") as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"


async def test_watch_page_of_a_ready_video_escapes_the_title(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    video = Video(id=keys.new_video_id(), title=HOSTILE_TITLE, status=VideoStatus.READY)
    await server.catalog.create(video)
    status, headers, page = await get_text(http, f"{server.url}/watch/{video.id}")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert "<script>window.pwned" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    assert f'data-video-id="{video.id}"' in page
    assert "hls.min.js" in page and "watch.js" in page
    assert 'id="hlsjs-missing" class="notice" role="alert" hidden></p>' in page


@pytest.mark.parametrize(
    "video_id",
    ["AAAAAAAAAAAAAAAA", "short", "<script>alert(1)<", "x" * 300, "%3Cscript%3E"],
)
async def test_unknown_or_malformed_ids_get_a_friendly_404_page(
    server: IngestServer, http: aiohttp.ClientSession, video_id: str
) -> None:
    status, headers, page = await get_text(http, f"{server.url}/watch/{video_id}")
    assert status == 404
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Video not found" in page
    assert 'href="/"' in page
    assert "<script>alert" not in page


async def test_watch_page_of_a_deleted_video_is_404(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    video = Video(id=keys.new_video_id(), title="gone soon")
    await server.catalog.create(video)
    async with http.delete(f"{server.url}/v1/videos/{video.id}") as response:
        assert response.status == 204
    status, _headers, _page = await get_text(http, f"{server.url}/watch/{video.id}")
    assert status == 404


async def test_without_hlsjs_the_watch_page_says_how_to_install_it(
    start_ingest: StartIngest, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server = await start_ingest(hlsjs_path=tmp_path / "nowhere" / "hls.min.js")
    video = Video(id=keys.new_video_id(), title="t", status=VideoStatus.READY)
    await server.catalog.create(video)
    status, _headers, page = await get_text(http, f"{server.url}/watch/{video.id}")
    assert status == 200
    assert "hls.min.js" not in re.sub(r"<p id=\"hlsjs-missing\".*?</p>", "", page, flags=re.S)
    assert "npm ci --omit=dev" in page
    assert "VODSTACK_HLSJS_PATH" in page


async def test_assets_are_immutable_under_their_version(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    _status, _headers, page = await get_text(http, server.url + "/")
    urls = asset_urls(page)
    assert any(url.endswith("/library.js") for url in urls)
    for url in urls:
        async with http.get(server.url + url) as response:
            assert response.status == 200, url
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert response.headers["ETag"].startswith('"')
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            etag = response.headers["ETag"]
        async with http.get(server.url + url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304, url
            assert await response.read() == b""
            assert response.headers["ETag"] == etag


async def test_script_content_types(server: IngestServer, http: aiohttp.ClientSession) -> None:
    _status, _headers, page = await get_text(http, server.url + "/")
    css, library = (
        next(url for url in asset_urls(page) if url.endswith(name))
        for name in ("app.css", "library.js")
    )
    version = library.split("/")[2]
    for url, content_type in [
        (library, "text/javascript; charset=utf-8"),
        (f"/assets/{version}/hls.min.js", "text/javascript; charset=utf-8"),
        (css, "text/css; charset=utf-8"),
    ]:
        async with http.get(server.url + url, headers={"Accept-Encoding": "identity"}) as response:
            assert response.headers["Content-Type"] == content_type
    hlsjs_url = f"{server.url}/assets/{version}/hls.min.js"
    async with http.get(hlsjs_url, headers={"Accept-Encoding": "identity"}) as response:
        assert await response.read() == FAKE_HLSJS


async def test_assets_are_gzipped_for_clients_that_accept_it(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    _status, _headers, page = await get_text(http, server.url + "/")
    url = server.url + next(u for u in asset_urls(page) if u.endswith("library.js"))
    async with http.get(url, headers={"Accept-Encoding": "identity"}) as response:
        plain = await response.read()
        plain_etag = response.headers["ETag"]
        assert "Content-Encoding" not in response.headers
        assert response.headers["Vary"] == "Accept-Encoding"
    async with http.get(url, headers={"Accept-Encoding": "gzip, br"}) as response:
        packed = await response.read()
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert response.headers["ETag"] != plain_etag
        assert int(response.headers["Content-Length"]) == len(packed)
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain)


async def test_an_asset_under_an_old_version_is_served_but_revalidated(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(server.url + "/assets/0123456789ab/app.css") as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["/assets/x/nope.js", "/assets/x/..%2fpages.py", "/assets/x/.env", "/assets/x/"]
)
async def test_unknown_assets_are_404(
    server: IngestServer, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(server.url + path) as response:
        assert response.status == 404
        assert response.content_type == "application/json"


async def test_csp_names_the_public_url(
    start_ingest: StartIngest, http: aiohttp.ClientSession, fake_hlsjs: Path
) -> None:
    server = await start_ingest(hlsjs_path=fake_hlsjs, public_url="https://videos.example/")
    _status, headers, _page = await get_text(http, server.url + "/")
    assert "connect-src 'self' https://videos.example;" in headers["Content-Security-Policy"]


async def test_the_api_is_unchanged_by_the_pages(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(server.url + "/v1/videos") as response:
        assert response.status == 200
        assert (await response.json())["videos"] == []


async def test_watch_page_while_the_catalogue_is_down_is_a_503_page(
    server: IngestServer, http: aiohttp.ClientSession
) -> None:
    await server.catalog.close()
    status, headers, page = await get_text(http, f"{server.url}/watch/{keys.new_video_id()}")
    assert status == 503
    assert headers["Retry-After"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Temporarily unavailable" in page
