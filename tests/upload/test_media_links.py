"""Playback and poster links point at where media are served (`media_url`), API links at the API."""

from __future__ import annotations

import aiohttp
import pytest

from ingest import presenter, urls
from tests.support.ingest_server import StartIngest
from vodstack import keys
from vodstack.catalog import Video, VideoStatus
from vodstack.settings import Settings, SettingsError, load_settings

API = "http://api.example:8080"
EDGE = "https://media.example"
VIDEO_ID = "AAAAAAAAAAAAAAAA"


def _ready(video_id: str = VIDEO_ID) -> Video:
    return Video(id=video_id, status=VideoStatus.READY, duration=6.0, version="v1abc")


# -- pure rules ----------------------------------------------------------------------------


def test_media_base_defaults_to_the_api_base() -> None:
    assert urls.media_base_url(None, API) == API
    assert urls.media_base_url("", API) == API


def test_media_base_is_the_configured_url_without_trailing_slash() -> None:
    assert urls.media_base_url("https://media.example/", API) == EDGE
    assert urls.media_base_url("https://media.example/vod/", API) == EDGE + "/vod"


def test_ready_video_links_media_at_the_media_base_and_status_at_the_api() -> None:
    data = presenter.video_json(_ready(), API, EDGE)
    assert data["status_url"] == f"{API}/v1/videos/{VIDEO_ID}"
    assert data["playback_url"] == f"{EDGE}/v/{VIDEO_ID}/master.m3u8"
    assert data["poster_url"] == f"{EDGE}/v/{VIDEO_ID}/v1abc/poster.jpg"


def test_without_a_media_base_every_link_uses_the_api_base() -> None:
    data = presenter.video_json(_ready(), API)
    assert data["playback_url"] == f"{API}/v/{VIDEO_ID}/master.m3u8"
    assert data["poster_url"] == f"{API}/v/{VIDEO_ID}/v1abc/poster.jpg"


def test_created_and_listed_videos_use_the_media_base() -> None:
    created = presenter.created_json(VIDEO_ID, API, EDGE)
    assert created["status_url"] == f"{API}/v1/videos/{VIDEO_ID}"
    assert created["playback_url"] == f"{EDGE}/v/{VIDEO_ID}/master.m3u8"
    page = presenter.list_json(
        [_ready()], "CUR", API, limit=1, status=None, media_base=EDGE
    )
    assert page["next_url"].startswith(f"{API}/v1/videos?")
    assert page["videos"][0]["playback_url"] == f"{EDGE}/v/{VIDEO_ID}/master.m3u8"


# -- the setting -------------------------------------------------------------------------


def test_media_url_setting_from_the_environment() -> None:
    settings = load_settings({"VODSTACK_MEDIA_URL": "http://edge:8080"})
    assert settings.media_url == "http://edge:8080"
    assert load_settings({}).media_url is None


@pytest.mark.parametrize(
    "bad", ["edge:8080", "ftp://edge", "http://", "http://edge/?x=1", "http://edge/#top"]
)
def test_media_url_must_be_an_http_base_url(bad: str) -> None:
    with pytest.raises(SettingsError, match="media_url"):
        Settings(media_url=bad).validate()


# -- over HTTP ---------------------------------------------------------------------------


async def test_api_answers_link_media_at_media_url(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest(media_url="https://media.example/")
    async with http.post(server.url + "/v1/videos", data=b"abc") as response:
        assert response.status == 201
        created = await response.json()
        assert response.headers["Location"] == f"{server.url}/v1/videos/{created['id']}"
    assert created["status_url"] == f"{server.url}/v1/videos/{created['id']}"
    assert created["playback_url"] == f"{EDGE}/v/{created['id']}/master.m3u8"

    ready = _ready(keys.new_video_id())
    await server.catalog.create(ready)
    async with http.get(f"{server.url}/v1/videos/{ready.id}") as response:
        shown = await response.json()
    assert shown["status_url"] == f"{server.url}/v1/videos/{ready.id}"
    assert shown["playback_url"] == f"{EDGE}/v/{ready.id}/master.m3u8"
    assert shown["poster_url"] == f"{EDGE}/v/{ready.id}/v1abc/poster.jpg"

    async with http.get(f"{server.url}/v1/videos?limit=1&status=ready") as response:
        page = await response.json()
    assert [v["playback_url"] for v in page["videos"]] == [shown["playback_url"]]

    async with http.patch(
        f"{server.url}/v1/videos/{ready.id}", json={"title": "renamed"}
    ) as response:
        patched = await response.json()
    assert patched["poster_url"] == shown["poster_url"]


async def test_media_url_and_public_url_together(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest(
        public_url="https://api.example/", media_url="https://media.example"
    )
    async with http.post(server.url + "/v1/videos", data=b"abc") as response:
        created = await response.json()
    assert created["status_url"] == f"https://api.example/v1/videos/{created['id']}"
    assert created["playback_url"] == f"{EDGE}/v/{created['id']}/master.m3u8"


async def test_without_media_url_links_follow_the_request(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    server = await start_ingest()
    async with http.post(server.url + "/v1/videos", data=b"abc") as response:
        created = await response.json()
    assert created["playback_url"] == f"{server.url}/v/{created['id']}/master.m3u8"


async def test_pages_let_the_browser_fetch_media_from_media_url(
    start_ingest: StartIngest, http: aiohttp.ClientSession
) -> None:
    """The watch page's Content-Security-Policy must allow the edge the links point at."""
    server = await start_ingest(media_url="https://media.example/vod")
    async with http.get(server.url + "/") as response:
        assert response.status == 200
        csp = response.headers["Content-Security-Policy"]
    for directive in ("connect-src", "media-src", "img-src"):
        (rule,) = [part.strip() for part in csp.split(";") if part.strip().startswith(directive)]
        assert "https://media.example" in rule.split(), rule
