"""The distributed set-up as separate OS processes on loopback.

SeaweedFS (S3) + Redis, two `vodstack worker`, two `vodstack origin`, one `vodstack edge` in
front of both origins and one `vodstack ingest` whose playback links point at the edge.
Three clips uploaded at once must be shared by both workers, become ready, and be served
byte for byte, with the same ETags, by either origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import m3u8
import pytest

from tests.support.backends import distributed_backend
from tests.support.hls import fetch_ladder, http_get, upload_file, wait_for_status
from tests.support.processes import VodstackProcess
from tests.support.redis_server import RedisServer
from tests.support.seaweed import SeaweedServer

pytestmark = pytest.mark.slow

FAST_ENCODE = {"VODSTACK_X264_PRESET": "ultrafast", "VODSTACK_LOG_LEVEL": "info"}
JOB_STARTED_RE = re.compile(r"job started: video=(\S+)")

Launch = Callable[..., VodstackProcess]


def published_objects(base_url: str, video_id: str) -> dict[str, tuple[str, bytes]]:
    """Every playlist, init segment, segment and the poster of a video: path → (ETag, bytes)."""
    objects: dict[str, tuple[str, bytes]] = {}
    prefix = f"{base_url}/v/{video_id}/"

    def get(url: str) -> bytes:
        status, headers, body = http_get(url)
        assert status == 200, (url, status, body[:200])
        assert headers.get("ETag"), f"{url} has no ETag"
        objects[url.removeprefix(prefix)] = (headers["ETag"], body)
        return body

    master_url = prefix + "master.m3u8"
    master = m3u8.loads(get(master_url).decode(), uri=master_url)
    for variant in master.playlists:
        playlist_url = urljoin(master_url, variant.uri)
        media = m3u8.loads(get(playlist_url).decode(), uri=playlist_url)
        for segment_map in media.segment_map or ():
            get(urljoin(playlist_url, segment_map.uri))
        for segment in media.segments:
            get(urljoin(playlist_url, segment.uri))
    return objects


@pytest.fixture
def launch(
    start_vodstack: Launch,
    s3_server: SeaweedServer,
    redis_server: RedisServer,
    tmp_path: Path,
) -> Launch:
    """`launch("worker", "worker-1", *flags)`: one service on the shared S3 bucket and Redis
    prefix, with a data directory of its own (scratch space)."""
    shared = distributed_backend(tmp_path / "shared", s3_server, redis_server).env

    def start(command: str, name: str, *flags: str) -> VodstackProcess:
        env = {**shared, **FAST_ENCODE, "VODSTACK_DATA_DIR": str(tmp_path / name)}
        return start_vodstack(
            command, "--host", "127.0.0.1", "--port", "0", *flags, env=env, name=name
        )

    return start


def test_two_workers_two_origins_one_edge(
    launch: Launch, make_clip: Callable[..., Path]
) -> None:
    clips = [make_clip(duration=seconds, width=640, height=360) for seconds in (5, 6, 7)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        worker_futures = [pool.submit(launch, "worker", f"worker-{n}") for n in (1, 2)]
        origin_futures = [pool.submit(launch, "origin", f"origin-{n}") for n in (1, 2)]
        origins = [future.result() for future in origin_futures]
        edge = launch(
            "edge", "edge",
            "--upstream", origins[0].url, "--upstream", origins[1].url,
            "--health-check-interval", "1s",
        )
        ingest = launch("ingest", "ingest", "--media-url", edge.url)
        workers = [future.result() for future in worker_futures]

        # Three uploads at once.
        uploads: list[Future[tuple[int, Any, dict[str, str]]]] = [
            pool.submit(upload_file, ingest.url, clip) for clip in clips
        ]
        created = []
        for future in uploads:
            status, body, _headers = future.result()
            assert status == 201, body
            assert body["status_url"].startswith(ingest.url + "/v1/videos/")
            assert body["playback_url"].startswith(edge.url + "/v/")
            created.append(body)
        videos = list(
            pool.map(lambda body: wait_for_status(body["status_url"], {"ready", "failed"},
                                                  timeout=120), created)
        )

    for video in videos:
        assert video["status"] == "ready", video
    video_ids = {video["id"] for video in videos}
    assert len(video_ids) == 3

    # Both workers took jobs, and between them every video.
    started = [set(JOB_STARTED_RE.findall(worker.log_text())) for worker in workers]
    assert all(started), [worker.log_text()[-2000:] for worker in workers]
    assert started[0] | started[1] == video_ids

    for video in videos:
        assert video["playback_url"] == f"{edge.url}/v/{video['id']}/master.m3u8"
        assert video["poster_url"].startswith(f"{edge.url}/v/{video['id']}/")

        # Through the edge, as a player sees it: every segment decodes, keyframe first.
        ladder = fetch_ladder(video["playback_url"])
        assert sorted(r.resolution[1] for r in ladder.renditions if r.resolution) == [240, 360]

        # Straight from each origin: the same objects, bytes and ETags.
        first, second = (published_objects(origin.url, video["id"]) for origin in origins)
        assert first.keys() == second.keys()
        assert first == second
        for rendition in ladder.renditions:
            for url, data in rendition.segment_bytes.items():
                path = url.removeprefix(f"{edge.url}/v/{video['id']}/")
                assert first[path][1] == data, path

        poster_path = video["poster_url"].removeprefix(f"{edge.url}/v/{video['id']}/")
        posters = [http_get(f"{origin.url}/v/{video['id']}/{poster_path}") for origin in origins]
        assert [status for status, _, _ in posters] == [200, 200]
        assert posters[0][2] == posters[1][2] and posters[0][2][:2] == b"\xff\xd8"
        assert posters[0][1]["ETag"] == posters[1][1]["ETag"]

    assert all(proc.alive() for proc in [*workers, *origins, edge, ingest])
