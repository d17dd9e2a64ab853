"""One video transcoded in chunks by two `vodstack worker` processes, end to end.

Runs once per backend (`backend` fixture): local directory + SQLite, and S3 (SeaweedFS) +
Redis. A 24 s 640x360 clip with sound is uploaded through `vodstack ingest`; with
`chunk_duration` 8 s it becomes three video chunks and the audio, shared by both workers,
then joined. The published ladder is checked from the store: every playlist parses, every
segment decodes and starts with a keyframe, each rendition lasts as long as the source,
video and audio run on without a gap across the joints, and the segments last exactly
what one whole encode of the same clip gives.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import m3u8
import pytest

from tests.support.backends import BackendConfig
from tests.support.continuity import concatenate, decode_errors, stream_times
from tests.support.hls import http_json, upload_file
from tests.support.hls_store import check_published
from tests.support.processes import VodstackProcess
from transcoder.ffmpeg_args import EncodeOptions, OutputLayout, transcode_args
from transcoder.ladder import ladder_for
from transcoder.probe import probe
from transcoder.runner import run_ffmpeg
from vodstack import keys
from vodstack.store import open_store

pytestmark = pytest.mark.slow

CHUNKED = {
    "VODSTACK_CHUNK_DURATION": "8",
    "VODSTACK_X264_PRESET": "ultrafast",
    "VODSTACK_FFMPEG_THREADS": "1",
    "VODSTACK_LOG_LEVEL": "info",
}
PART_STARTED_RE = re.compile(r"job started: video=(\S+) .*\((chunk \d of \d|the audio) ")
CLIP_SECONDS = 24.0


def follow_progress(status_url: str, stop: threading.Event, seen: list[dict[str, Any]]) -> None:
    while not stop.is_set():
        code, body = http_json(status_url)
        if code == 200:
            seen.append(body)
            if body["status"] in {"ready", "failed"}:
                return
        time.sleep(0.1)


async def whole_encode_durations(clip: Path, scratch: Path) -> dict[str, list[float]]:
    """Segment durations of each rung as one ffmpeg run (the single-job path) cuts them."""
    info = await probe(clip)
    rungs = ladder_for(info)
    options = EncodeOptions(preset="ultrafast", threads=1)
    layout = OutputLayout(scratch, options.segment_extension)
    for rung in rungs:
        layout.rendition_dir(rung.name).mkdir(parents=True)
    await run_ffmpeg(
        transcode_args(clip, info, rungs, layout, options), time_limit=300, duration=info.duration
    )
    playlists = {rung.name: m3u8.loads(layout.playlist(rung.name).read_text()) for rung in rungs}
    return {name: [float(s.duration) for s in p.segments] for name, p in playlists.items()}


def test_two_worker_processes_share_the_chunks_of_one_video(
    start_vodstack: Callable[..., VodstackProcess],
    backend: BackendConfig,
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    clip = make_clip(duration=CLIP_SECONDS, width=640, height=360)

    def launch(command: str, name: str) -> VodstackProcess:
        # The store and queue URLs are the backend's; each process has its own scratch.
        env = {**backend.env, **CHUNKED, "VODSTACK_DATA_DIR": str(tmp_path / name)}
        return start_vodstack(command, "--host", "127.0.0.1", "--port", "0", env=env,
                              name=f"{name}-{backend.name}")  # fmt: skip

    workers = [launch("worker", f"worker-{n}") for n in (1, 2)]
    ingest = launch("ingest", "ingest")
    status, body, _headers = upload_file(ingest.url, clip)
    assert status == 201, body
    seen: list[dict[str, Any]] = []
    stop = threading.Event()
    follower = threading.Thread(target=follow_progress, args=(body["status_url"], stop, seen))
    follower.start()
    follower.join(timeout=180)
    stop.set()
    video = seen[-1]
    assert video["status"] == "ready", video
    video_id = video["id"]

    # Progress went up, never down, from the first chunk to the join.
    progress = [entry["progress"] for entry in seen if entry["status"] == "processing"]
    assert progress == sorted(progress)
    # Both workers took parts of this video.
    taken = [
        {part for vid, part in PART_STARTED_RE.findall(worker.log_text()) if vid == video_id}
        for worker in workers
    ]
    assert all(taken), [worker.log_text()[-3000:] for worker in workers]
    assert taken[0] | taken[1] == {"chunk 1 of 3", "chunk 2 of 3", "chunk 3 of 3", "the audio"}
    assert all(worker.alive() for worker in workers)

    whole = asyncio.run(whole_encode_durations(clip, tmp_path / "whole"))
    asyncio.run(check_store(backend, video_id, tmp_path / "check", whole))


async def check_store(
    backend: BackendConfig, video_id: str, scratch: Path, whole: dict[str, list[float]]
) -> None:
    store = open_store(backend.settings())
    await store.start()
    try:
        variants = await check_published(store, video_id, scratch)
        master = m3u8.loads((await store.read(keys.master_key(video_id))).decode())
        assert [m.type for m in master.media] == ["AUDIO"]
        assert {v.stream_info.audio for v in variants} == {master.media[0].group_id}
        assert sorted(v.uri.split("/")[1] for v in variants) == sorted(whole)
        for variant in variants:
            name = variant.uri.split("/")[1]
            assert [s.duration for s in variant.segments] == whole[name]
            assert variant.total_duration == pytest.approx(CLIP_SECONDS, abs=0.1)
            for segment in variant.segments:
                assert segment.errors == "", segment
                assert segment.video_frames > 0 and segment.first_video_frame_is_key
        audio_uri = master.media[0].uri
        audio = m3u8.loads((await store.read(keys.video_prefix(video_id) + audio_uri)).decode())
        audio_seconds = sum(float(s.duration) for s in audio.segments)
        assert audio_seconds == pytest.approx(CLIP_SECONDS, abs=0.1)

        # Played as one stream each: no decode error, no gap or overlap at any joint; every
        # stream starts at zero (the audio's priming packet with the first frame: nothing
        # before zero, which fMP4 readers would take as a huge time).
        for uri, step in [*((v.uri, 1 / 30) for v in variants), (audio_uri, 1024 / 48000)]:
            joined = await concatenate(store, video_id, uri, scratch / uri.replace("/", "-"))
            assert decode_errors(joined) == ""
            [stream] = stream_times(joined)
            assert stream.gaps(step, tolerance=1e-4) == [], uri
            assert stream.end == pytest.approx(CLIP_SECONDS, abs=0.1)
            assert stream.presentation[0] == pytest.approx(0.0, abs=1e-3)
    finally:
        await store.close()
