"""Signed playback URLs: tokens, playlist rewriting, the origin and the edge checking them,
and the API handing out signed links."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import m3u8
import pytest
from aiohttp import web
from multidict import CIMultiDict

import origin.app
from edge_cache.app import create_app as create_edge
from tests.support.ingest_server import running_ingest
from tests.support.origin_server import OTHER_VIDEO_ID, VIDEO_ID, running
from vodstack import keys
from vodstack.catalog import Rendition, Video, VideoStatus
from vodstack.embedded import build_embedded_app
from vodstack.playback.playlists import private_cache_control, sign_playlist, with_token
from vodstack.playback.signer import url_signer
from vodstack.playback.tokens import TokenProblem, check, sign, token_for
from vodstack.settings import Settings
from vodstack.store import ObjectStore

SECRET = "correct horse battery staple"
VERSION = "v0000cafe"
MASTER = f"""#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
{VERSION}/360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
{VERSION}/720p/index.m3u8
"""
MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000,
0.m4s
#EXTINF:4.000,
1.m4s
#EXTINF:2.000,
2.m4s
#EXT-X-ENDLIST
"""


# -- pure ----------------------------------------------------------------------------------


def test_a_token_opens_one_video_until_it_expires() -> None:
    now = 1_700_000_000.0
    token = token_for(SECRET, VIDEO_ID, 60, now=now)
    assert check(SECRET, VIDEO_ID, token, now=now) is None
    assert check(SECRET, VIDEO_ID, token, now=now + 60) is None
    assert check(SECRET, VIDEO_ID, token, now=now + 61) is TokenProblem.EXPIRED
    assert check(SECRET, OTHER_VIDEO_ID, token, now=now) is TokenProblem.FORGED
    assert check("another secret of enough length", VIDEO_ID, token, now=now) is (
        TokenProblem.FORGED
    )
    expires, mac = token.split(".")
    later = f"{int(expires) + 3600}.{mac}"  # stretching the expiry breaks the MAC
    assert check(SECRET, VIDEO_ID, later, now=now) is TokenProblem.FORGED
    assert check(SECRET, VIDEO_ID, None) is TokenProblem.MISSING
    for junk in ("", "abc", "1.2", f"{expires}.{mac}x", f"-1.{mac}"):
        assert check(SECRET, VIDEO_ID, junk, now=now) in {
            TokenProblem.MALFORMED, TokenProblem.MISSING
        }


def test_playlist_rewriting_reaches_every_uri() -> None:
    token = sign(SECRET, VIDEO_ID, 2_000_000_000)
    master = sign_playlist(
        MASTER + '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n', token
    )
    parsed = m3u8.loads(master)
    assert [p.uri for p in parsed.playlists] == [
        f"{VERSION}/360p/index.m3u8?token={token}", f"{VERSION}/720p/index.m3u8?token={token}"
    ]
    assert f'URI="audio/en.m3u8?token={token}"' in master
    media = m3u8.loads(sign_playlist(MEDIA, token))
    assert media.segment_map[0].uri == f"init.mp4?token={token}"
    assert [s.uri for s in media.segments] == [f"{n}.m4s?token={token}" for n in range(3)]
    assert media.is_endlist and media.target_duration == 4


def test_rewriting_replaces_old_tokens_keeps_other_hosts_and_line_endings() -> None:
    assert with_token("a.m4s?token=old&x=1", "new") == "a.m4s?x=1&token=new"
    assert with_token("https://cdn.example.com/a.m4s", "t") == "https://cdn.example.com/a.m4s"
    assert with_token("/v/x/a.m4s", "t") == "/v/x/a.m4s?token=t"
    text = "#EXTM3U\r\n#EXTINF:4,\r\nseg.ts\r\n\r\n"
    assert sign_playlist(text, "t") == "#EXTM3U\r\n#EXTINF:4,\r\nseg.ts?token=t\r\n\r\n"


def test_token_bearing_playlists_are_private() -> None:
    assert private_cache_control(
        "public, max-age=60, stale-while-revalidate=300, s-maxage=600"
    ) == "private, max-age=60, stale-while-revalidate=300"
    assert private_cache_control("max-age=1") == "private, max-age=1"


def test_the_api_signer_makes_links_the_origin_accepts() -> None:
    signer = url_signer(Settings(playback_secret=SECRET, playback_token_ttl=120))
    assert signer is not None
    url = signer(VIDEO_ID, f"https://tv.example.com/v/{VIDEO_ID}/master.m3u8")
    assert url.startswith(f"https://tv.example.com/v/{VIDEO_ID}/master.m3u8?token=")
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert check(SECRET, VIDEO_ID, token) is None
    assert int(token.split(".")[0]) <= time.time() + 121
    assert url_signer(Settings()) is None


# -- a published video in a real store, served by a real origin and edge -------------------


async def publish(store: ObjectStore, video_id: str) -> dict[str, bytes]:
    """A small HLS ladder as the worker would leave it; returns every object by key."""
    objects: dict[str, bytes] = {keys.master_key(video_id): MASTER.encode()}
    for rendition in ("360p", "720p"):
        prefix = keys.rendition_prefix(video_id, VERSION, rendition)
        objects[prefix + "index.m3u8"] = MEDIA.encode()
        objects[prefix + "init.mp4"] = os.urandom(700)
        for number in range(3):
            objects[prefix + f"{number}.m4s"] = os.urandom(20_000 + number)
    objects[keys.poster_key(video_id, VERSION)] = b"\xff\xd8" + os.urandom(500)
    for key, data in objects.items():
        await store.put_bytes(key, data, content_type="application/octet-stream")
    return objects


def signed_settings(tmp_path: Path, **more: object) -> Settings:
    data = tmp_path / "data"
    return Settings(
        data_dir=data, store=f"file://{data / 'store'}", playback_secret=SECRET, **more
    ).validate()


@dataclass
class Served:
    url: str
    objects: dict[str, bytes]
    hits: Counter[str]
    """Requests the origin answered, by path."""


@pytest.fixture
async def signed_origin(tmp_path: Path) -> AsyncIterator[Served]:
    settings = signed_settings(tmp_path)
    app = origin.app.create_app(settings)
    hits: Counter[str] = Counter()

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        hits[request.path] += 1
        return await handler(request)

    app.middlewares.append(count)
    async with running(app, settings.data_dir / "store") as served:
        objects = await publish(served.store, VIDEO_ID)
        await publish(served.store, OTHER_VIDEO_ID)
        yield Served(served.url, objects, hits)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes]:
    async with http.get(url, headers=headers or {}) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def play(http: aiohttp.ClientSession, master_url: str) -> dict[str, bytes]:
    """Fetch like an HLS player from the master URL alone: every playlist and segment."""
    fetched: dict[str, bytes] = {}
    status, _, body = await get(http, master_url)
    assert status == 200, body
    master = m3u8.loads(body.decode())
    assert len(master.playlists) == 2
    for variant in master.playlists:
        media_url = urljoin(master_url, variant.uri)
        status, _, body = await get(http, media_url)
        assert status == 200, (media_url, body)
        media = m3u8.loads(body.decode())
        uris = [media.segment_map[0].uri, *(s.uri for s in media.segments)]
        for uri in uris:
            url = urljoin(media_url, uri)
            status, _, data = await get(http, url)
            assert status == 200, (url, data)
            fetched[urlsplit(url).path] = data
    return fetched


def master_url(base: str, video_id: str = VIDEO_ID, token: str | None = None) -> str:
    url = f"{base}/v/{video_id}/master.m3u8"
    return url if token is None else f"{url}?token={token}"


def expected_media(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {
        "/v/" + key.removeprefix("videos/"): data for key, data in objects.items()
        if key.endswith((".m4s", ".mp4"))
    }


async def test_the_origin_plays_with_only_the_signed_master_url(
    signed_origin: Served, http: aiohttp.ClientSession
) -> None:
    token = token_for(SECRET, VIDEO_ID, 60)
    fetched = await play(http, master_url(signed_origin.url, token=token))
    assert fetched == expected_media(signed_origin.objects)


@pytest.mark.parametrize("case", ["missing", "expired", "forged", "other video", "malformed"])
async def test_the_origin_refuses_bad_tokens_with_403_json(
    signed_origin: Served, http: aiohttp.ClientSession, case: str
) -> None:
    token = {
        "missing": None,
        "expired": sign(SECRET, VIDEO_ID, int(time.time()) - 5),
        "forged": sign("a different secret entirely", VIDEO_ID, int(time.time()) + 60),
        "other video": token_for(SECRET, OTHER_VIDEO_ID, 60),
        "malformed": "letmein",
    }[case]
    for path in ("master.m3u8", f"{VERSION}/360p/0.m4s", f"{VERSION}/poster.jpg"):
        url = f"{signed_origin.url}/v/{VIDEO_ID}/{path}"
        if token is not None:
            url += f"?token={token}"
        status, headers, body = await get(http, url)
        assert status == 403, (case, path)
        assert b'"invalid_token"' in body
        assert headers["Cache-Control"] == "no-store"
        assert headers["Access-Control-Allow-Origin"] == "*"


async def test_rewritten_playlists_keep_validators_and_ignore_ranges(
    signed_origin: Served, http: aiohttp.ClientSession
) -> None:
    url = master_url(signed_origin.url, token=token_for(SECRET, VIDEO_ID, 60))
    status, headers, body = await get(http, url)
    assert status == 200 and b"?token=" in body
    # One viewer's token inside: no shared cache may keep it for others.
    assert headers["Cache-Control"].startswith("private") and "public" not in headers[
        "Cache-Control"
    ]
    status, _, ranged = await get(http, url, {"Range": "bytes=0-9"})
    assert status == 200 and ranged == body
    status, revalidated, _ = await get(http, url, {"If-None-Match": headers["ETag"]})
    assert status == 304 and revalidated["Cache-Control"] == headers["Cache-Control"]
    segment = f"{signed_origin.url}/v/{VIDEO_ID}/{VERSION}/360p/1.m4s?" + urlsplit(url).query
    status, _, part = await get(http, segment, {"Range": "bytes=10-19"})
    key = keys.rendition_prefix(VIDEO_ID, VERSION, "360p") + "1.m4s"
    assert status == 206 and part == signed_origin.objects[key][10:20]


async def test_a_header_token_gets_the_playlist_as_stored(
    signed_origin: Served, http: aiohttp.ClientSession
) -> None:
    headers = {"Vodstack-Playback-Token": token_for(SECRET, VIDEO_ID, 60)}
    status, _, body = await get(http, master_url(signed_origin.url), headers)
    assert status == 200 and body == MASTER.encode()


@pytest.fixture
async def signed_edge(signed_origin: Served, tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(
        upstream=(signed_origin.url,), playback_secret=SECRET, health_check_interval=0
    ).validate()
    async with running(create_edge(settings), tmp_path) as edge:
        yield edge.url


async def test_the_edge_shares_one_cache_entry_between_tokens(
    signed_origin: Served, signed_edge: str, http: aiohttp.ClientSession
) -> None:
    first = token_for(SECRET, VIDEO_ID, 60)
    second = token_for(SECRET, VIDEO_ID, 3600)
    assert first != second
    assert await play(http, master_url(signed_edge, token=first)) == expected_media(
        signed_origin.objects
    )
    after_first = Counter(signed_origin.hits)
    assert await play(http, master_url(signed_edge, token=second)) == expected_media(
        signed_origin.objects
    )
    # One upstream fetch per object, whichever token asked.
    assert signed_origin.hits == after_first
    assert all(count == 1 for count in after_first.values()), after_first
    assert len(after_first) == 1 + 2 + 2 * 4  # master, 2 media playlists, init + 3 segments


async def test_the_edge_puts_each_viewers_token_in_playlists(
    signed_edge: str, http: aiohttp.ClientSession
) -> None:
    for ttl in (60, 120):
        token = token_for(SECRET, VIDEO_ID, ttl)
        status, headers, body = await get(http, master_url(signed_edge, token=token))
        assert status == 200
        assert body.count(f"?token={token}".encode()) == 2
        assert headers["Content-Length"] == str(len(body))
        assert headers["Cache-Control"].startswith("private")


async def test_the_edge_checks_tokens_on_hits_too(
    signed_edge: str, http: aiohttp.ClientSession
) -> None:
    good = token_for(SECRET, VIDEO_ID, 60)
    segment = f"{signed_edge}/v/{VIDEO_ID}/{VERSION}/720p/0.m4s"
    status, headers, _ = await get(http, f"{segment}?token={good}")
    assert status == 200
    status, headers, _ = await get(http, f"{segment}?token={good}")
    assert status == 200 and headers["X-Cache"] == "HIT"
    for bad in ("", "?token=nope", f"?token={sign(SECRET, VIDEO_ID, int(time.time()) - 1)}",
                f"?token={token_for(SECRET, OTHER_VIDEO_ID, 60)}"):
        status, headers, body = await get(http, segment + bad)
        assert status == 403 and b'"invalid_token"' in body, bad
        assert "X-Cache" not in headers


async def test_the_api_hands_out_signed_links_that_play(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = signed_settings(tmp_path, worker_concurrency=0)
    async with running_ingest(settings, build_embedded_app(settings)) as server:
        await publish(server.store, VIDEO_ID)
        await server.catalog.create(Video(id=VIDEO_ID, title="Signed"))
        await server.catalog.update(
            VIDEO_ID, status=VideoStatus.READY, version=VERSION, duration=10.0,
            renditions=(Rendition("360p", 640, 360, 800_000, 700_000, "avc1.64001e", 30.0),),
        )
        status, _, body = await get(http, f"{server.url}/v1/videos/{VIDEO_ID}")
        assert status == 200
        video = json.loads(body)
        assert "?token=" in video["playback_url"] and "?token=" in video["poster_url"]
        await play(http, video["playback_url"])
        status, _, poster = await get(http, video["poster_url"])
        assert status == 200 and poster[:2] == b"\xff\xd8"
        unsigned = video["playback_url"].split("?")[0]
        assert (await get(http, unsigned))[0] == 403
