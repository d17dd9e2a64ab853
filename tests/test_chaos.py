"""Chaos: workers SIGKILLed while ffmpeg runs lose no video and leave nothing behind.

Real processes on real distributed backends: `vodstack ingest`, `vodstack origin` and two
`vodstack worker`s on Redis + SeaweedFS (S3). Six clips are uploaded; twice, at a moment
drawn from a seeded generator, a worker is SIGKILLed while its ffmpeg runs and another
worker is started. Every video must end `ready`, every segment must decode, each master
must point at exactly one version with no other version's objects left, no ffmpeg may
survive its worker, and no scratch space may be left on disk.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.backends import distributed_backend
from tests.support.hls import fetch_ladder, http_json, upload_file
from tests.support.processes import VodstackProcess
from tests.support.proctree import alive, ffmpeg_under
from tests.support.redis_server import RedisServer
from tests.support.seaweed import SeaweedServer
from tests.test_transcoder_runner import running_with
from vodstack import keys
from vodstack.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SEED = 7031
CLIPS = 6
KILLS = 2
VISIBILITY_TIMEOUT = 6


async def wait_for_ffmpeg(workers: list[VodstackProcess], within: float) -> VodstackProcess:
    """The first worker seen running an ffmpeg."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for worker in workers:
            if any(_is_ffmpeg(pid) for pid in ffmpeg_under(worker.proc.pid)):
                return worker
        await asyncio.sleep(0.05)
    raise AssertionError("no worker ran ffmpeg in time")


def _is_ffmpeg(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "ffmpeg"
    except OSError:
        return False


async def video_states(ingest_url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    states = {}
    for video_id in ids:
        code, body = await asyncio.to_thread(http_json, f"{ingest_url}/v1/videos/{video_id}")
        assert code == 200, body
        states[video_id] = body
    return states


async def test_killed_workers_lose_no_video(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    s3_server: SeaweedServer,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    backend = distributed_backend(tmp_path / "backend", s3_server, redis_server)
    env = {
        **backend.env,
        "VODSTACK_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "VODSTACK_X264_PRESET": "ultrafast",
        "VODSTACK_RETRY_BASE_DELAY": "0.5",
        "VODSTACK_RETRY_MAX_DELAY": "2",
        "VODSTACK_MAX_ATTEMPTS": "6",
        "VODSTACK_TOP_RUNG": "360",
    }
    common = ("--host", "127.0.0.1", "--port", "0")
    ingest = start_vodstack("ingest", *common, env=env, name="ingest")
    origin = start_vodstack("origin", *common, env=env, name="origin")
    started = 0

    def new_worker() -> VodstackProcess:
        nonlocal started
        started += 1
        # Every worker shares one data directory: scratch space of live and dead workers
        # side by side, as on one machine.
        return start_vodstack("worker", *common, env=env, name=f"worker-{started}")

    workers = [new_worker(), new_worker()]
    clips = [make_clip(duration=8 + n, width=480, height=270, fps=25) for n in range(CLIPS)]
    uploads = await asyncio.gather(
        *(asyncio.to_thread(upload_file, ingest.url, clip) for clip in clips)
    )
    ids = []
    for status, body, _headers in uploads:
        assert status == 201, body
        ids.append(body["id"])

    killed_ffmpegs: list[int] = []
    began = time.monotonic()
    for _ in range(KILLS):
        while True:
            victim = await wait_for_ffmpeg(workers, within=120)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            ffmpegs = [pid for pid in ffmpeg_under(victim.proc.pid) if _is_ffmpeg(pid)]
            if ffmpegs:
                break  # still encoding at the chosen moment: kill it now
        victim.kill()
        killed_ffmpegs += ffmpegs
        # PR_SET_PDEATHSIG: the kernel kills the orphaned ffmpeg with its worker.
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in ffmpegs):
            assert time.monotonic() < deadline, f"ffmpeg {ffmpegs} outlived its worker"
            await asyncio.sleep(0.05)
        workers.remove(victim)
        workers.append(new_worker())

    deadline = time.monotonic() + 240
    while True:
        states = await video_states(ingest.url, ids)
        if all(state["status"] in {"ready", "failed"} for state in states.values()):
            break
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.5)
    recovered_in = time.monotonic() - began
    assert all(state["status"] == "ready" for state in states.values()), states
    assert sum(state["attempts"] for state in states.values()) >= CLIPS + KILLS

    # Every segment of every rendition decodes, served by the origin.
    for video_id in ids:
        ladder = await asyncio.to_thread(fetch_ladder, f"{origin.url}/v/{video_id}/master.m3u8")
        assert ladder.renditions and all(r.segment_durations for r in ladder.renditions)

    # One version per video: the master points at it and nothing else is left.
    store = open_store(backend.settings())
    await store.start()
    try:
        for video_id in ids:
            version = states[video_id]["poster_url"].rsplit("/", 2)[-2]
            master = (await store.read(keys.master_key(video_id))).decode()
            referenced = {
                line.split("/", 1)[0] for line in master.splitlines() if line.endswith(".m3u8")
            }
            assert referenced == {version}, master
            stored = [info.key async for info in store.list(keys.video_prefix(video_id))]
            strays = [
                key for key in stored
                if key != keys.master_key(video_id)
                and not key.startswith(keys.version_prefix(video_id, version))
            ]  # fmt: skip
            assert strays == [], strays
    finally:
        await store.close()

    for worker in workers:
        assert await asyncio.to_thread(worker.stop) == 0, worker.log_text()
    for service in (ingest, origin):
        assert await asyncio.to_thread(service.stop) == 0
    assert running_with(str(tmp_path), "ffmpeg") == []
    assert not any(alive(pid) for pid in killed_ffmpegs)
    scratch = tmp_path / "backend" / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir()), list(scratch.iterdir())
    print(f"{CLIPS} videos ready {recovered_in:.1f}s after the first kill, {KILLS} kills")
