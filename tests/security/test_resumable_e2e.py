"""End to end with a client nobody here wrote: tuspy uploads through a connection that gets
cut, a new tuspy client resumes, a real `vodstack serve` transcodes, the signed playback URL
plays, and a failing webhook receiver gets its event. Then `vodstack upload` killed midway
and run again."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from tests.security import tus
from tests.security.receiver import running_receiver
from tests.support.backends import BackendConfig
from tests.support.cutting_proxy import CuttingProxy
from tests.support.hls import fetch_ladder, http_get, media_duration, wait_for_status
from tests.support.ingest_server import running_ingest
from tests.support.processes import REPO_ROOT, VodstackProcess
from vodstack.settings import Settings

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
PLAYBACK_SECRET = "playback-secret-for-tests"
WEBHOOK_SECRET = "webhook-secret-for-tests"


def verify_signature(header: str, body: bytes) -> bool:
    """As the README tells receivers to do it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > 300:
        return False
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def cut_upload(proxy: CuttingProxy, clip: Path, cut_at: int) -> str:
    """tuspy in 1 MiB chunks until the proxy drops the connection; returns the upload URL."""
    proxy.cut_after(cut_at)
    uploader = tus_client.TusClient(proxy.url + "/v1/uploads").uploader(
        str(clip), chunk_size=MiB, metadata={"filename": clip.name, "title": "Cut and resumed"}
    )
    with pytest.raises((TusUploadFailed, TusCommunicationError)):
        uploader.upload()
    assert proxy.broken.is_set()
    assert uploader.url is not None
    return str(uploader.url)


def resume_upload(proxy: CuttingProxy, clip: Path, url: str) -> int:
    """A new tuspy client (checksums on) picks the upload up; returns where it resumed."""
    uploader = tus_client.TusClient(proxy.url + "/v1/uploads").uploader(
        str(clip), url=url, chunk_size=MiB, upload_checksum=True
    )
    resumed_at = int(uploader.offset)
    uploader.upload()
    return resumed_at


async def test_tuspy_cut_resume_transcode_signed_playback_and_webhook(
    backend: BackendConfig,
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    clip = make_clip(duration=8, width=1280, height=720)
    size = clip.stat().st_size
    assert size > 4 * MiB
    # The receiver hangs past the timeout, then errs, then accepts.
    async with running_receiver([4.0, 503]) as receiver:
        env = {
            **backend.env,
            "VODSTACK_X264_PRESET": "ultrafast",
            "VODSTACK_TOP_RUNG": "360",
            "VODSTACK_PLAYBACK_SECRET": PLAYBACK_SECRET,
            "VODSTACK_WEBHOOK_URLS": receiver.url,
            "VODSTACK_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VODSTACK_WEBHOOK_TIMEOUT": "2",
            "VODSTACK_WEBHOOK_RETRY_BASE_DELAY": "0.3",
            "VODSTACK_WEBHOOK_RETRY_MAX_DELAY": "1",
        }
        server = await asyncio.to_thread(
            start_vodstack, "serve", "--data-dir", str(tmp_path / "data"), "--port", "0",
            env=env, name=f"serve-{backend.name}",
        )
        host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
        assert host is not None and port is not None
        with CuttingProxy(host, port) as proxy:
            url = await asyncio.to_thread(cut_upload, proxy, clip, int(size * 0.45))
            resumed_at = await asyncio.to_thread(resume_upload, proxy, clip, url)
        assert MiB <= resumed_at < size, resumed_at  # resumed, not restarted

        video_id = url.rsplit("/", 1)[1]
        video = await asyncio.to_thread(
            wait_for_status, f"{server.url}/v1/videos/{video_id}", {"ready", "failed"}
        )
        assert video["status"] == "ready", video
        assert video["title"] == "Cut and resumed" and video["size"] == size
        source_duration = media_duration(clip)
        assert abs(video["duration"] - source_duration) <= 0.1

        # Only the signed master URL: every playlist and segment plays, none without it.
        assert "?token=" in video["playback_url"]
        ladder = await asyncio.to_thread(fetch_ladder, video["playback_url"])
        for rendition in ladder.renditions:
            assert abs(sum(rendition.segment_durations) - source_duration) <= 0.1
        unsigned = video["playback_url"].split("?")[0]
        status, _, _ = await asyncio.to_thread(http_get, unsigned)
        assert status == 403

        # The receiver failed twice and then took it: three deliveries, one event.
        await receiver.wait_for(3, within=60)
        await asyncio.sleep(0.5)
        assert len(receiver.received) == 3
        assert len({r.event["id"] for r in receiver.received}) == 1
        assert receiver.accepted_events == [receiver.received[0].event["id"]]
        for request in receiver.received:
            assert verify_signature(request.headers["Vodstack-Signature"], request.body)
        event = receiver.received[0].event
        assert event["type"] == "video.ready" and event["data"]["video"]["id"] == video_id
        # Readiness did not wait for the receiver: ready before the first attempt arrived.
        ready_at = datetime.fromisoformat(event["data"]["video"]["ready_at"]).timestamp()
        assert ready_at <= receiver.received[0].at


async def test_a_killed_cli_upload_resumes_when_run_again(tmp_path: Path) -> None:
    data = os.urandom(6 * MiB + 123)
    file = tmp_path / "film.mp4"
    file.write_bytes(data)
    env = {
        **os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    settings = Settings(data_dir=tmp_path / "data").validate()
    async with running_ingest(settings) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with CuttingProxy(host, int(port)) as proxy:
            args = [sys.executable, "-m", "vodstack", "upload", str(file), "--server", proxy.url,
                    "--no-wait", "--chunk-size", "1MiB"]
            proxy.stall_after(3 * MiB + MiB // 2)
            first = await asyncio.create_subprocess_exec(
                *args, env=env, cwd=REPO_ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            deadline = time.monotonic() + 30
            while not proxy.broken.is_set():
                assert time.monotonic() < deadline, "the upload never reached the stall"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            first.send_signal(signal.SIGKILL)  # killed mid-chunk, no chance to clean up
            await first.wait()
            state = json.loads((tmp_path / "cache" / "vodstack" / "uploads.json").read_text())
            assert len(state) == 1

            second = await asyncio.create_subprocess_exec(
                *args, env=env, cwd=REPO_ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 0, stderr.decode()
        text = stderr.decode()
        assert "resuming the upload at byte" in text, text
        resumed_at = int(text.split("resuming the upload at byte ")[1].split()[0])
        assert 3 * MiB <= resumed_at < len(data)
        videos, _ = await server.catalog.list()
        assert len(videos) == 1 and f"id: {videos[0].id}" in stdout.decode()
        assert await server.store.read(f"uploads/{videos[0].id}/source") == data
        assert await server.queue.depth() == 1
        state = json.loads((tmp_path / "cache" / "vodstack" / "uploads.json").read_text())
        assert state == {}  # forgotten once finished
        # And the upload is really over: the same URL reports every byte.
        async with aiohttp.ClientSession() as http:
            answer = await tus.head(http, f"{server.url}/v1/uploads/{videos[0].id}")
        assert answer.offset == len(data)
