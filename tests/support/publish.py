"""Publishing a clip through the real pipeline, in-process, for tests that need a video."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from transcoder.worker import Worker
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video, VideoStatus
from vodstack.settings import Settings


async def publish_clip(settings: Settings, clip: Path, *, within: float = 120.0) -> Video:
    """Upload `clip` to the store, queue it, run a worker until it is ready; the record."""
    backends = Backends.from_settings(settings)
    await backends.start()
    worker = Worker(settings, backends)
    try:
        video_id = keys.new_video_id()
        source = keys.source_key(video_id)
        await backends.store.put_file(source, clip, content_type="video/mp4")
        await backends.catalog.create(Video(id=video_id, filename=clip.name))
        await backends.queue.enqueue(
            video_id, {"video_id": video_id, "source_key": source}, max_attempts=2
        )
        await worker.start()
        deadline = time.monotonic() + within
        while True:
            video = await backends.catalog.get(video_id)
            assert video is not None
            if video.status in {VideoStatus.READY, VideoStatus.FAILED}:
                break
            assert time.monotonic() < deadline, video
            await asyncio.sleep(0.1)
        assert video.status is VideoStatus.READY, video.error
        return video
    finally:
        await worker.stop()
        await backends.close()
