"""`vodstack serve` as a real process: its one URL is the edge's, in front of everything.

Media are cached, API answers pass through, links point at the edge, published videos are
warmed and deleted ones purged, /healthz and /readyz speak for the whole stack.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import m3u8
import pytest

from tests.support.hls import http_get, http_json, upload_file
from tests.support.ports import listening_addresses
from tests.support.processes import VodstackProcess, free_port
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TOKEN = "serve-edge-token"
FAST_ENCODE = {"VODSTACK_X264_PRESET": "ultrafast"}


def _stats(server: VodstackProcess) -> dict[str, Any]:
    status, _headers, body = http_get(
        f"{server.url}/_edge/stats", {"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, body
    return dict(json.loads(body))


def _wait_for_warming(server: VodstackProcess, objects: int, timeout: float = 30) -> None:
    """Warming runs in the background after publishing: wait until `objects` were fetched
    and no warm job is left (usually so by the time a client has seen `ready`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = _stats(server)
        if stats["counters"].get("warmed", 0) >= objects and stats["warming"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"warming did not finish: {stats}")


def _x_cache(url: str) -> tuple[int, str]:
    status, headers, _body = http_get(url)
    return status, headers.get("X-Cache", "")


def test_serve_url_is_the_edge_with_links_warm_and_purge(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    # Besides its own edge, told about a remote edge that is down: warming and purging it
    # fail, which must neither fail the job nor hold up the delete.
    dead_edge = f"http://127.0.0.1:{free_port()}"
    server = start_vodstack(
        "serve", "--data-dir", str(tmp_path / "data"), "--port", "0",
        "--purge-token", TOKEN, "--warm-segments", "1", "--edges", dead_edge,
        "--segment-duration", "2", "--keyframe-interval", "2",
        env=FAST_ENCODE, name="serve",
    )
    # The edge is the only thing listening on the network; the rest is on a unix socket.
    port = urlsplit(server.url).port
    assert [(host, p) for _proto, host, p in listening_addresses(server.proc.pid)] == [
        ("127.0.0.1", port)
    ]

    clip = make_clip(duration=6, width=640, height=360)
    status, created, headers = upload_file(server.url, clip)
    assert status == 201, created
    assert headers["X-Cache"] == "BYPASS"
    assert created["status_url"].startswith(server.url + "/v1/videos/")
    assert created["playback_url"].startswith(server.url + "/v/")
    assert headers["Location"] == created["status_url"]

    # Behind a TLS front end, the forwarded scheme and host reach the API through the edge.
    status, headers, body = http_get(
        created["status_url"],
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "videos.example.com"},
    )
    assert status == 200 and headers["X-Cache"] == "BYPASS"
    assert json.loads(body)["status_url"].startswith("https://videos.example.com/v1/videos/")

    # A player polling the master while the video is transcoded gets 404s, which the edge
    # keeps for 2 s; once the API says ready, the master must play at once all the same.
    master_url = created["playback_url"]
    deadline = time.monotonic() + 240
    while True:
        assert time.monotonic() < deadline, "the video never became ready"
        assert http_get(master_url)[0] in {200, 404}  # published just before `ready`
        video = http_json(created["status_url"])[1]
        if video["status"] in {"ready", "failed"}:
            break
        time.sleep(0.3)
    assert video["status"] == "ready", video
    assert _x_cache(master_url)[0] == 200
    assert video["playback_url"] == created["playback_url"]
    assert video["poster_url"].startswith(server.url + "/v/")

    # Warmed on publish: a player's first requests are all hits. Master, poster, and for
    # each of the two renditions its playlist, init segment and first segment.
    _wait_for_warming(server, objects=2 + 2 * 3)
    status, headers, body = http_get(master_url)
    assert status == 200 and headers["X-Cache"] == "HIT"
    assert _x_cache(video["poster_url"]) == (200, "HIT")
    master = m3u8.loads(body.decode(), uri=master_url)
    assert len(master.playlists) == 2  # 360p and 240p
    segment_urls = []
    for playlist in master.playlists:
        media_url = urljoin(master_url, playlist.uri)
        status, headers, body = http_get(media_url)
        assert status == 200 and headers["X-Cache"] == "HIT", media_url
        media = m3u8.loads(body.decode(), uri=media_url)
        assert len(media.segments) >= 2
        assert _x_cache(urljoin(media_url, media.segment_map[0].uri)) == (200, "HIT")
        first, second = (urljoin(media_url, s.uri) for s in media.segments[:2])
        assert _x_cache(first) == (200, "HIT")
        assert _x_cache(second) == (200, "MISS")  # beyond --warm-segments 1
        assert _x_cache(second) == (200, "HIT")
        segment_urls += [first, second]

    # API answers are never cached.
    assert _x_cache(created["status_url"]) == (200, "BYPASS")

    # Deleted: purged from the edge at once, not served from the cache.
    started = time.monotonic()
    assert http_json(created["status_url"], method="DELETE")[0] == 204
    assert time.monotonic() - started < 5
    for url in [*segment_urls, master_url]:
        status, cache = _x_cache(url)
        assert status == 404, (url, cache)
    assert _stats(server)["counters"]["purged"] >= len(segment_urls)

    for path in ("/healthz", "/readyz"):
        assert http_json(server.url + path) == (200, {"status": "ok"})
    log = server.log_text()
    assert f"could not warm video {video['id']} on edge {dead_edge}" in log
    assert f"could not purge /v/{video['id']}/ on edge {dead_edge}" in log


def test_health_endpoints_speak_for_the_whole_stack(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        server = start_vodstack(
            "serve", "--data-dir", str(tmp_path / "data"), "--port", "0",
            "--queue", redis.url(prefix="serve-health"), "--worker-concurrency", "0",
        )
        assert http_json(server.url + "/readyz") == (200, {"status": "ok"})
        redis.stop()
        status, body = http_json(server.url + "/readyz", timeout=20)
        assert status == 503 and body["status"] == "unavailable"
        assert any(problem.startswith(("queue", "catalog")) for problem in body["problems"])
        assert http_json(server.url + "/healthz") == (200, {"status": "ok"})  # alive still
        redis.start()
        deadline = time.monotonic() + 30
        while http_json(server.url + "/readyz", timeout=20)[0] != 200:
            assert time.monotonic() < deadline, "not ready again after Redis came back"
            time.sleep(0.2)
    finally:
        redis.stop()
