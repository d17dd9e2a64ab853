"""Dead letters and the operator: a video that failed for a reason of the machine is listed
as failed with its reason, retried with `POST /v1/videos/<id>/retry` once the cause is
fixed, and plays; only failed videos can be retried. Deleting a video that is still queued
cancels its job and leaves nothing behind. Runs on both backends with real processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.backends import BackendConfig
from tests.support.hls import fetch_ladder, http_json, upload_file, wait_for_status
from tests.support.processes import REPO_ROOT, VodstackProcess
from vodstack import keys
from vodstack.backends import Backends

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def post(url: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_failed_video_is_listed_retried_by_the_operator_and_plays(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    backend: BackendConfig,
) -> None:
    args = ("serve", "--port", "0", "--x264-preset", "ultrafast", "--retry-base-delay", "0.1")
    # The machine is short of disk: every attempt is refused, the job ends in the dead letter.
    crippled = start_vodstack(
        *args, "--min-free-space", "1000TiB", "--max-attempts", "2", env=backend.env, name="short"
    )
    status, created, _ = await asyncio.to_thread(
        upload_file, crippled.url, make_clip(duration=4, width=320, height=240)
    )
    assert status == 201
    video_url = created["status_url"]
    failed = await asyncio.to_thread(wait_for_status, video_url, {"ready", "failed"})
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert "not enough scratch space" in failed["error"]
    code, listing = await asyncio.to_thread(
        http_json, f"{crippled.url}/v1/videos?status=failed"
    )
    assert code == 200 and [v["id"] for v in listing["videos"]] == [created["id"]]
    assert await asyncio.to_thread(crippled.stop) == 0

    # The operator frees disk space (here: restarts with a sane setting) and retries.
    fixed = start_vodstack(*args, env=backend.env, name="fixed")
    video_url = f"{fixed.url}/v1/videos/{created['id']}"
    code, answer = await asyncio.to_thread(post, video_url + "/retry")
    assert code == 202, answer
    assert answer["status"] == "queued" and answer["attempts"] == 0 and "error" not in answer
    ready = await asyncio.to_thread(wait_for_status, video_url, {"ready", "failed"})
    assert ready["status"] == "ready" and ready["attempts"] == 1, ready
    await asyncio.to_thread(fetch_ladder, ready["playback_url"])

    # Only failed videos can be retried.
    code, answer = await asyncio.to_thread(post, video_url + "/retry")
    assert code == 409 and answer["error"]["code"] == "conflict", answer
    assert "Only a failed video" in answer["error"]["message"]
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "vodstack", "retry", created["id"], "--server", fixed.url],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip
    assert cli.returncode == 1 and "Only a failed video can be retried" in cli.stderr, cli
    code, answer = await asyncio.to_thread(post, f"{fixed.url}/v1/videos/AAAAAAAAAAAAAAAA/retry")
    assert code == 404 and answer["error"]["code"] == "video_not_found"
    code, listing = await asyncio.to_thread(http_json, f"{fixed.url}/v1/videos?status=failed")
    assert listing["videos"] == []
    assert await asyncio.to_thread(fixed.stop) == 0


async def test_deleting_a_queued_video_cancels_its_job_and_leaves_nothing(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    backend: BackendConfig,
) -> None:
    # The upload API alone: nothing transcodes, the job waits in the queue.
    ingest = start_vodstack("ingest", "--port", "0", env=backend.env, name="ingest")
    status, created, _ = await asyncio.to_thread(
        upload_file, ingest.url, make_clip(duration=4, width=320, height=240)
    )
    assert status == 201
    backends = Backends.from_settings(backend.settings())
    await backends.start()
    try:
        assert await backends.queue.depth() == 1
        code, _answer = await asyncio.to_thread(http_json, created["status_url"], "DELETE")
        assert code == 204
        assert await backends.queue.depth() == 0
        # A worker that starts now finds nothing to do and writes nothing.
        worker = start_vodstack("worker", "--port", "0", env=backend.env, name="worker")
        await asyncio.sleep(2)
        assert await asyncio.to_thread(worker.stop) == 0
        assert "job started" not in worker.log_text()
        video_id = created["id"]
        leftovers = [
            info.key
            for prefix in (keys.video_prefix(video_id), keys.upload_prefix(video_id))
            async for info in backends.store.list(prefix)
        ]
        assert leftovers == []
        assert await backends.catalog.get(video_id) is None
    finally:
        await backends.close()
    assert await asyncio.to_thread(ingest.stop) == 0
