"""Publishing an attempt while ffmpeg encodes it.

Every `poll_interval` (and once more when ffmpeg exits) the publisher reads ffmpeg's
playlists in the scratch directory, uploads the segments they list that are not stored
yet, and, when the publication is progressive, rewrites each rendition's growing (EVENT)
playlist and writes the master as soon as every rendition can be played. When ffmpeg is
done, `finish` writes the finished (VOD) playlists and the finished master. The order is
`transcoder.publish_order`'s; the playlist texts are `transcoder.media_playlist`'s.

Everything goes under the attempt's own version prefix. Progressive publishing is only
for a video that has no finished master: a re-transcode of a published video uploads as
it goes too, but keeps the old master (and so the old version) in front of players until
the new version is complete, then swaps the master. A growing master left by an attempt
that died is taken down before a new attempt starts.

When an attempt ends without finishing (`abandon`), the writes in flight settle first,
then the master is removed if it is this attempt's growing one (it still points at this
version), then the version: the master never points at something missing, and nothing is
left behind. Growing objects are stored with `GROWING_PLAYLIST` (a cache keeps them a
moment), finished ones with the usual policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from transcoder.errors import VideoGone
from transcoder.ffmpeg_args import PLAYLIST_NAME, OutputLayout
from transcoder.ladder import Rung
from transcoder.master import estimated_variant, master_playlist
from transcoder.measure import IncompleteOutput, video_codec
from transcoder.media_playlist import (
    FfmpegPlaylist,
    Segment,
    media_playlist,
    parse_ffmpeg_playlist,
    target_duration,
)
from transcoder.publish import Publisher
from transcoder.publish_order import PublishOrder, RenditionProgress
from vodstack import keys
from vodstack.catalog import Catalog
from vodstack.media import cache_control_for, content_type_for, is_growing
from vodstack.store import ObjectInfo, ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.25
"""How often ffmpeg's playlists are read while it runs: at most this much is added to the
time a segment takes to reach the store (stat and read of one small file per rendition)."""

Hook = Callable[[], Awaitable[None]]


def read_ffmpeg_playlists(layout: OutputLayout, names: Sequence[str]) -> dict[str, FfmpegPlaylist]:
    """ffmpeg's playlists as they are now, each cut before its first segment not on disk
    (blocking: call in a thread). Renditions without a playlist yet are left out."""
    readings: dict[str, FfmpegPlaylist] = {}
    for name in names:
        try:
            parsed = parse_ffmpeg_playlist(layout.playlist(name).read_text())
        except FileNotFoundError:
            continue
        directory = layout.rendition_dir(name)
        present: list[Segment] = []
        for segment in parsed.segments:
            if not (directory / segment.name).is_file():
                break
            present.append(segment)
        ended = parsed.ended and len(present) == len(parsed.segments)
        readings[name] = FfmpegPlaylist(
            parsed.version, parsed.target_duration, parsed.init, tuple(present), ended
        )
    return readings


class StreamingPublisher:
    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        *,
        video_id: str,
        version: str,
        layout: OutputLayout,
        rungs: Sequence[Rung],
        declared_target: int,
        concurrency: int = 8,
        before_master: Hook | None = None,
        on_playable: Hook | None = None,
        on_withdrawn: Hook | None = None,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.video_id = video_id
        self.version = version
        self.layout = layout
        self.rungs = {rung.name: rung for rung in rungs}
        self.declared_target = declared_target
        self.poll_interval = poll_interval
        self._before_master = before_master
        self._on_playable = on_playable
        self._on_withdrawn = on_withdrawn
        self._publisher = Publisher(store, catalog, concurrency=concurrency)
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._writes: set[asyncio.Future[ObjectInfo]] = set()
        self.order = PublishOrder(self.rungs, progressive=False)
        self.finished = False
        """The finished master is out: the attempt's publication is complete."""
        self.master_key = keys.master_key(video_id)

    @property
    def progressive(self) -> bool:
        return self.order.progressive

    # -- before ffmpeg starts --------------------------------------------------------------

    async def prepare(self, *, allow_progressive: bool) -> None:
        """Decide whether this attempt may publish before it is complete: only when no
        finished master is in front of players. A growing master (an attempt that died
        mid-way left it) is withdrawn with everything it pointed at."""
        try:
            info = await self.store.head(self.master_key)
        except ObjectNotFound:
            self.order.progressive = allow_progressive
            return
        if not is_growing(info.cache_control):
            return  # published: keep serving it until this version is complete
        log.info("removing the unfinished publication of %s left by an earlier attempt",
                 self.video_id)
        await self.store.delete(self.master_key)
        await self.store.delete_prefix(keys.video_prefix(self.video_id))
        if self._on_withdrawn is not None:
            await self._on_withdrawn()
        self.order.progressive = allow_progressive

    # -- while ffmpeg runs -----------------------------------------------------------------

    async def follow(self, encoding: asyncio.Future[Any]) -> None:
        """Publish what ffmpeg completes until `encoding` is done, then once more."""
        while True:
            finished = encoding.done()
            await self.step()
            if finished:
                return
            await asyncio.wait({encoding}, timeout=self.poll_interval)

    async def step(self) -> None:
        """One round: read ffmpeg's playlists, upload, rewrite playlists, maybe the master."""
        readings = await asyncio.to_thread(read_ffmpeg_playlists, self.layout, list(self.rungs))
        for name, playlist in readings.items():
            self.order.renditions[name].learn(playlist)
        due = self.order.uploads_due()
        if due:
            await self._upload_media(due)
        growing = self.order.playlists_due()
        if growing:
            await _all(self._write_playlist(rendition, finished=False) for rendition in growing)
        if self.order.master_due():
            await self._write_growing_master()

    # -- writes ----------------------------------------------------------------------------

    async def _write(self, write: Coroutine[Any, Any, ObjectInfo]) -> ObjectInfo:
        """Run a store write that nothing can interrupt halfway: if the caller is cancelled
        it goes on, and `abandon` waits for it before removing anything."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    def _key(self, rendition: str, name: str) -> str:
        return keys.rendition_prefix(self.video_id, self.version, rendition) + name

    async def _upload_media(self, due: list[tuple[str, str]]) -> None:
        async def upload(rendition: str, name: str) -> None:
            key = self._key(rendition, name)
            async with self._limit:
                await self._write(
                    self.store.put_file(
                        key,
                        self.layout.rendition_dir(rendition) / name,
                        content_type=content_type_for(key),
                        cache_control=cache_control_for(key),
                    )
                )
            self.order.renditions[rendition].upload_done(name)

        for rendition, name in due:
            self.order.renditions[rendition].started_upload(name)
        await _all(upload(rendition, name) for rendition, name in due)

    async def _write_playlist(self, rendition: RenditionProgress, *, finished: bool) -> None:
        segments = rendition.listable()
        text = media_playlist(
            version=rendition.hls_version,
            target=target_duration(self.declared_target, segments),
            init=rendition.init,
            segments=segments,
            finished=finished,
        )
        key = self._key(rendition.name, PLAYLIST_NAME)
        await self._write(
            self.store.put_bytes(
                key,
                text.encode(),
                content_type=content_type_for(key),
                cache_control=cache_control_for(key, growing=not finished),
            )
        )
        rendition.playlist_written(len(segments))

    async def _ensure_video(self) -> None:
        if await self.catalog.get(self.video_id) is None:
            raise VideoGone(self.video_id)

    def _growing_master_text(self) -> str:
        """Blocking (reads each rendition's init segment for its codec): call in a thread."""
        entries = []
        for rendition in self.order.renditions.values():
            listed = rendition.listable()
            codec = video_codec(
                self.layout.rendition_dir(rendition.name), rendition.init, listed[0].name
            )
            entries.append(
                estimated_variant(
                    self.rungs[rendition.name],
                    video_codec=codec,
                    target_duration=target_duration(self.declared_target, listed),
                    hls_version=rendition.hls_version,
                )
            )
        return master_playlist(entries, self.version)

    async def _write_growing_master(self) -> None:
        if self._before_master is not None:
            await self._before_master()
        await self._ensure_video()
        text = await asyncio.to_thread(self._growing_master_text)
        self.order.master_written = True
        cancelled = await self._publisher.write_master(self.master_key, text, growing=True)
        await self._ensure_video()  # deleted while it was written: `abandon` takes it down
        if cancelled:
            raise asyncio.CancelledError()
        log.info("video %s playable while it is being transcoded (version %s)",
                 self.video_id, self.version)
        if self._on_playable is not None:
            await self._on_playable()

    # -- once ffmpeg is done ---------------------------------------------------------------

    async def finish(self, master_text: str, poster: Path | None) -> None:
        """Everything stored, then the finished playlists, then the finished master; older
        versions are removed afterwards."""
        await self.step()
        if not self.order.complete:
            missing = ", ".join(self.order.missing()[:5]) or "every segment"
            raise IncompleteOutput(f"not all of ffmpeg's output was published ({missing})")
        if poster is not None:
            key = keys.poster_key(self.video_id, self.version)
            await self._write(
                self.store.put_file(
                    key, poster, content_type=content_type_for(key),
                    cache_control=cache_control_for(key),
                )
            )  # fmt: skip
        await _all(
            self._write_playlist(rendition, finished=True)
            for rendition in self.order.renditions.values()
        )
        if self._before_master is not None:
            await self._before_master()
        await self._ensure_video()
        cancelled = await self._publisher.write_master(self.master_key, master_text)
        await self._ensure_video()  # deleted while it was written: `abandon` takes it down
        self.finished = True
        if cancelled:
            raise asyncio.CancelledError()
        await self._publisher.remove_old_versions(self.video_id, self.version)

    # -- when the attempt does not finish --------------------------------------------------

    async def abandon(self) -> None:
        """Take down what this attempt published, unless its finished master is out.

        Waits for the writes in flight first, so nothing lands after the removal; then the
        master if it points at this version (growing, or finished but the video deleted
        meanwhile), then the version.
        """
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self.finished:
            return
        await self._withdraw_master()
        await self._publisher.remove_version(self.video_id, self.version)

    async def _withdraw_master(self) -> None:
        """Remove the master if it points at this version (a newer attempt that took the
        job over may have replaced it: then it is left alone)."""
        try:
            current = (await self.store.read(self.master_key)).decode(errors="replace")
        except ObjectNotFound:
            return
        except Exception as exc:
            log.warning("could not read the master of %s to withdraw it: %s", self.video_id, exc)
            return
        if f"\n{self.version}/" not in current:
            return
        try:
            await self.store.delete(self.master_key)
        except Exception as exc:
            log.warning("could not withdraw the master of %s: %s", self.video_id, exc)
            return
        log.info("withdrew the unfinished publication of %s", self.video_id)
        if self._on_withdrawn is not None:
            with contextlib.suppress(Exception):
                await self._on_withdrawn()


async def _all(calls: Any) -> None:
    """Run coroutines concurrently until all have ended; then raise the first failure.

    Unlike a TaskGroup the error is the failure itself (not an ExceptionGroup), which is
    what the worker classifies (store unavailable: retry; ...).
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
