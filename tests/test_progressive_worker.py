"""Progressive publishing by a real worker running a real ffmpeg, on a local store (watched:
every write is noted, with what each playlist named that was not stored yet) and SQLite.

Covers the guarantees: every playlist revision names only stored objects and grows by
appending; the master goes out growing, then finished; deleting, a failed ffmpeg and a
retry after the video became playable leave no mix of versions and nothing behind; a
published video keeps its master until the new version is complete; a growing master left
by a dead attempt is taken down before anything new goes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import posixpath
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import m3u8
import pytest

from edge_cache.playlists import referenced_uris
from ingest import presenter
from tests.support.hls_store import check_published
from tests.test_transcoder_runner import running_with
from transcoder.worker import Worker
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video, VideoStatus, open_catalog
from vodstack.media import FINISHED_PLAYLIST, GROWING_PLAYLIST, is_playlist
from vodstack.queue import open_queue
from vodstack.settings import Settings
from vodstack.store import ObjectInfo, ObjectNotFound
from vodstack.store.local import LocalStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WAIT = 120.0


@dataclass(frozen=True)
class PlaylistWrite:
    key: str
    text: str
    cache_control: str | None
    missing: tuple[str, ...]
    """Objects the playlist names that were not in the store when it was written."""


class WatchedStore(LocalStore):
    """The local store, noting each write and delete in order."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.events: list[tuple[str, str]] = []
        self.playlists: list[PlaylistWrite] = []

    async def _not_stored(self, key: str, text: str) -> tuple[str, ...]:
        attributes, plain = referenced_uris(text)
        base = key.rsplit("/", 1)[0]
        missing = []
        for uri in [*attributes, *plain]:
            target = posixpath.normpath(f"{base}/{uri}")
            try:
                await self.head(target)
            except ObjectNotFound:
                missing.append(target)
        return tuple(missing)

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        if is_playlist(key):
            text = data.decode()
            missing = await self._not_stored(key, text)
            self.playlists.append(PlaylistWrite(key, text, cache_control, missing))
        info = await super().put_bytes(
            key, data, content_type=content_type, cache_control=cache_control
        )
        self.events.append(("put", key))
        return info

    async def put_file(
        self, key: str, path: Path, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        info = await super().put_file(
            key, path, content_type=content_type, cache_control=cache_control
        )
        self.events.append(("put", key))
        return info

    async def delete(self, key: str) -> None:
        await super().delete(key)
        self.events.append(("delete", key))


@dataclass
class Stack:
    settings: Settings
    backends: Backends
    store: WatchedStore
    clips: Callable[..., Path]
    workers: list[Worker] = field(default_factory=list)

    async def submit(self, clip: Path, *, max_attempts: int = 1, video_id: str = "") -> str:
        video_id = video_id or keys.new_video_id()
        source = keys.source_key(video_id)
        if await self.backends.catalog.get(video_id) is None:
            await self.store.put_file(source, clip, content_type="video/mp4")
            await self.backends.catalog.create(Video(id=video_id, filename=clip.name))
        await self.backends.queue.enqueue(
            video_id, {"video_id": video_id, "source_key": source}, max_attempts=max_attempts
        )
        return video_id

    async def start_worker(self, **overrides: object) -> Worker:
        settings = dataclasses.replace(self.settings, **overrides)  # type: ignore[arg-type]
        worker = Worker(settings, self.backends)
        await worker.start()
        self.workers.append(worker)
        return worker

    async def wait(
        self, video_id: str, done: Callable[[Video | None], bool], what: str
    ) -> Video | None:
        deadline = time.monotonic() + WAIT
        while True:
            video = await self.backends.catalog.get(video_id)
            if done(video):
                return video
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {video}"
            await asyncio.sleep(0.05)

    async def finished(self, video_id: str) -> Video:
        video = await self.wait(
            video_id,
            lambda v: v is not None and v.status in {VideoStatus.READY, VideoStatus.FAILED},
            "ready or failed",
        )
        assert video is not None
        return video

    async def playable(self, video_id: str) -> Video:
        video = await self.wait(
            video_id,
            lambda v: v is None or v.playable_at is not None or v.status is VideoStatus.FAILED,
            "playable",
        )
        assert video is not None and video.playable_at is not None, video
        assert video.status is VideoStatus.PROCESSING, "finished before the test could act"
        return video

    async def keys_of(self, video_id: str) -> list[str]:
        return [info.key async for info in self.store.list(keys.video_prefix(video_id))]

    def ffmpeg_pids(self) -> list[int]:
        return running_with(str(self.settings.scratch_path), "ffmpeg")


@pytest.fixture
async def stack(tmp_path: Path, make_clip: Callable[..., Path]) -> AsyncIterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data", x264_preset="ultrafast", visibility_timeout=30.0,
        retry_base_delay=0.05, retry_max_delay=0.2,
    ).validate()  # fmt: skip
    store = WatchedStore(tmp_path / "data" / "store")
    backends = Backends(store_=store, queue_=open_queue(settings), catalog_=open_catalog(settings))
    await backends.start()
    made = Stack(settings, backends, store, make_clip)
    try:
        yield made
    finally:
        for worker in made.workers:
            await worker.stop()
        await backends.close()


def revisions(store: WatchedStore, key: str) -> list[PlaylistWrite]:
    return [write for write in store.playlists if write.key == key]


async def test_playable_while_transcoded_and_every_revision_is_safe(stack: Stack) -> None:
    video_id = await stack.submit(stack.clips(duration=20, width=640, height=360))
    await stack.start_worker()
    video = await stack.finished(video_id)
    assert video.status is VideoStatus.READY, video.error
    assert video.version and video.playable_at and video.ready_at
    assert video.playable_at <= video.ready_at

    for write in stack.store.playlists:
        assert write.missing == (), f"{write.key} named objects not stored yet: {write.missing}"
    master_key = keys.master_key(video_id)
    masters = revisions(stack.store, master_key)
    assert [m.cache_control for m in masters] == [GROWING_PLAYLIST, FINISHED_PLAYLIST]
    first_master = stack.store.playlists.index(masters[0])
    for rendition in video.renditions:
        key = keys.rendition_prefix(video_id, video.version, rendition.name) + "index.m3u8"
        texts = revisions(stack.store, key)
        assert stack.store.playlists.index(texts[0]) < first_master, "master before playlist"
        *growing, final = texts
        assert growing and all(w.cache_control == GROWING_PLAYLIST for w in growing)
        assert final.cache_control == FINISHED_PLAYLIST
        parsed = [m3u8.loads(w.text) for w in texts]
        assert all(p.playlist_type == "event" and not p.is_endlist for p in parsed[:-1])
        assert parsed[-1].playlist_type == "vod" and parsed[-1].is_endlist
        for before, after in itertools.pairwise(texts):
            assert after.text.replace("TYPE:VOD", "TYPE:EVENT").startswith(before.text)
        assert sum(s.duration for s in parsed[-1].segments) == pytest.approx(20.0, abs=0.1)

    variants = await check_published(stack.store, video_id, stack.settings.data_dir / "check")
    assert all(segment.errors == "" for v in variants for segment in v.segments)
    assert all(
        key == master_key or key.startswith(keys.version_prefix(video_id, video.version))
        for key in await stack.keys_of(video_id)
    )


async def test_deleting_a_playable_video_mid_transcode_leaves_nothing(stack: Stack) -> None:
    video_id = await stack.submit(stack.clips(duration=20, width=640, height=360))
    worker = await stack.start_worker(x264_preset="veryslow")
    await stack.playable(video_id)
    assert stack.ffmpeg_pids(), "ffmpeg should still be encoding"
    # What DELETE /v1/videos/<id> does: jobs cancelled, record gone, then the objects.
    await stack.backends.queue.cancel(video_id)
    assert await stack.backends.catalog.delete(video_id)
    await stack.store.delete_prefix(keys.video_prefix(video_id))
    deadline = time.monotonic() + 30
    while worker.running_jobs or stack.ffmpeg_pids():
        assert time.monotonic() < deadline, "the transcode went on after the delete"
        await asyncio.sleep(0.1)
    assert await stack.keys_of(video_id) == []
    assert [p.name for p in worker.space.directory.iterdir()] == [".lock"], "scratch left"


def kill_ffmpeg(stack: Stack) -> None:
    pids = stack.ffmpeg_pids()
    assert pids, "ffmpeg should still be encoding"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


async def test_a_job_failing_after_it_became_playable_withdraws_everything(
    stack: Stack,
) -> None:
    video_id = await stack.submit(stack.clips(duration=20, width=640, height=360))
    await stack.start_worker(x264_preset="veryslow")
    await stack.playable(video_id)
    kill_ffmpeg(stack)
    video = await stack.finished(video_id)
    assert video.status is VideoStatus.FAILED
    assert video.error and "ffmpeg" in video.error
    assert video.playable_at is None
    assert await stack.keys_of(video_id) == []
    shown = presenter.video_json(video, "http://x")
    assert shown["playable"] is False and "playback_url" not in shown
    # Taken down master first, then the version.
    deletes = [key for action, key in stack.store.events if action == "delete"]
    assert deletes[0] == keys.master_key(video_id)


async def test_a_retry_after_it_became_playable_publishes_one_clean_version(
    stack: Stack,
) -> None:
    video_id = await stack.submit(
        stack.clips(duration=20, width=640, height=360), max_attempts=2
    )
    slow = await stack.start_worker(x264_preset="veryslow")
    first = await stack.playable(video_id)
    kill_ffmpeg(stack)
    await stack.wait(
        video_id, lambda v: v is None or v.attempts == 2, "the second attempt"
    )
    await slow.stop()  # the second attempt goes on faster, on another worker
    await stack.start_worker()
    video = await stack.finished(video_id)
    assert video.status is VideoStatus.READY, video.error
    assert video.attempts == 2 and video.version
    assert video.playable_at is not None and video.playable_at > first.playable_at  # type: ignore[operator]
    stored = await stack.keys_of(video_id)
    master_key = keys.master_key(video_id)
    assert all(
        key == master_key or key.startswith(keys.version_prefix(video_id, video.version))
        for key in stored
    ), stored
    master = m3u8.loads((await stack.store.read(master_key)).decode())
    assert {p.uri.split("/")[0] for p in master.playlists} == {video.version}
    await check_published(stack.store, video_id, stack.settings.data_dir / "check")


async def test_a_retranscode_keeps_the_published_master_until_it_is_complete(
    stack: Stack,
) -> None:
    clip = stack.clips(duration=6, width=640, height=360)
    video_id = await stack.submit(clip)
    await stack.start_worker()
    published = await stack.finished(video_id)
    assert published.status is VideoStatus.READY and published.version
    start = len(stack.store.events)
    # The same video transcoded again (a redelivered job, or an operator's new run).
    await stack.submit(clip, video_id=video_id)
    again = await stack.wait(
        video_id, lambda v: v is not None and v.version != published.version, "the new version"
    )
    assert again is not None and again.status is VideoStatus.READY and again.version
    events = stack.store.events[start:]
    new_prefix = keys.version_prefix(video_id, again.version)
    master_writes = [i for i, (action, key) in enumerate(events)
                     if action == "put" and key == keys.master_key(video_id)]  # fmt: skip
    assert len(master_writes) == 1, "the master changes once, when the new one is complete"
    written_new = [i for i, (action, key) in enumerate(events)
                   if action == "put" and key.startswith(new_prefix)]  # fmt: skip
    assert max(written_new) < master_writes[0]
    old_prefix = keys.version_prefix(video_id, published.version)
    removed_old = [i for i, (action, key) in enumerate(events)
                   if action == "delete" and key.startswith(old_prefix)]  # fmt: skip
    assert removed_old and min(removed_old) > master_writes[0]
    assert [w.cache_control for w in revisions(stack.store, keys.master_key(video_id))][-1] == (
        FINISHED_PLAYLIST
    )


async def test_a_growing_master_left_by_a_dead_attempt_goes_before_anything_new(
    stack: Stack,
) -> None:
    video_id = await stack.submit(stack.clips(duration=4, width=640, height=360))
    stale = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0000dead/240p/index.m3u8\n"
    for key, body in (
        (f"videos/{video_id}/v0000dead/240p/index.m3u8", "#EXTM3U\n"),
        (keys.master_key(video_id), stale),
    ):
        await stack.store.put_bytes(
            key, body.encode(), content_type="application/vnd.apple.mpegurl",
            cache_control=GROWING_PLAYLIST,
        )  # fmt: skip
    await stack.backends.catalog.update(video_id, playable_at=time.time())
    start = len(stack.store.events)
    await stack.start_worker()
    video = await stack.finished(video_id)
    assert video.status is VideoStatus.READY and video.version
    events = stack.store.events[start:]
    assert events[0] == ("delete", keys.master_key(video_id))
    assert not [key for key in await stack.keys_of(video_id) if "v0000dead" in key]
