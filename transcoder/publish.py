"""Publishing one transcode: renditions, poster, then the master playlist last.

Everything goes under a version prefix new for this attempt (`videos/<id>/<version>/`),
so a segment name never names different bytes and caches may keep segments forever. The
master (`videos/<id>/master.m3u8`) is written only when everything it points at is in
place: its presence means "published". Older versions are deleted afterwards.

If the video is deleted while this runs, what was written is removed and no master is
written (or the master just written is removed again). A cancelled publication waits for
the writes already in flight before it removes its version: a write still running in a
thread (local store) or on the wire (S3) would otherwise land after the removal and stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from transcoder.errors import VideoGone
from transcoder.measure import EncodedRendition
from vodstack import keys
from vodstack.catalog import Catalog
from vodstack.media import cache_control_for, content_type_for, is_playlist
from vodstack.store import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)

T = TypeVar("T")


async def settle_before_cancel(write: Awaitable[T]) -> T:
    """Await `write`; if cancelled meanwhile, let it end first, then re-raise."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task
        raise


@dataclass(frozen=True)
class Publication:
    video_id: str
    version: str
    renditions: list[EncodedRendition]
    poster: Path | None
    master_text: str


def upload_plan(publication: Publication) -> list[tuple[str, Path]]:
    """(key, local file) for every rendition file: media first, playlists after."""
    media: list[tuple[str, Path]] = []
    playlists: list[tuple[str, Path]] = []
    for rendition in publication.renditions:
        prefix = keys.rendition_prefix(
            publication.video_id, publication.version, rendition.stats.name
        )
        for name in rendition.files:
            entry = (prefix + name, rendition.directory / name)
            (playlists if is_playlist(name) else media).append(entry)
    return media + playlists


class Publisher:
    def __init__(self, store: ObjectStore, catalog: Catalog, *, concurrency: int = 8) -> None:
        self.store = store
        self.catalog = catalog
        self.concurrency = max(1, concurrency)

    async def _put_files(self, entries: Iterable[tuple[str, Path]]) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def put(key: str, path: Path) -> None:
            async with limit:
                await settle_before_cancel(
                    self.store.put_file(
                        key,
                        path,
                        content_type=content_type_for(key),
                        cache_control=cache_control_for(key),
                    )
                )

        async with asyncio.TaskGroup() as group:
            for key, path in entries:
                group.create_task(put(key, path))

    async def _video_exists(self, video_id: str) -> bool:
        return await self.catalog.get(video_id) is not None

    async def publish(
        self,
        publication: Publication,
        *,
        before_master: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Upload everything, the master last; then remove older versions.

        `before_master` runs just before the master is written (the worker checks it still
        holds the job's lease there) and may raise to stop the publication.
        """
        video_id, version = publication.video_id, publication.version
        master_key = keys.master_key(video_id)
        master_written = False
        try:
            plan = upload_plan(publication)
            media = [entry for entry in plan if not is_playlist(entry[0])]
            await self._put_files(media)
            await self._put_files(entry for entry in plan if is_playlist(entry[0]))
            if publication.poster is not None:
                await self._put_files([(keys.poster_key(video_id, version), publication.poster)])
            if before_master is not None:
                await before_master()
            if not await self._video_exists(video_id):
                raise VideoGone(video_id)
            cancelled = await self.write_master(master_key, publication.master_text)
            master_written = True
            if not await self._video_exists(video_id):
                # Deleted while the master was being written: take it back down.
                await self.store.delete(master_key)
                master_written = False
                raise VideoGone(video_id)
            if cancelled:
                raise asyncio.CancelledError()
        except BaseException:
            if not master_written:
                await asyncio.shield(self.remove_version(video_id, version))
            raise
        await self.remove_old_versions(video_id, version)

    async def write_master(self, master_key: str, text: str, *, growing: bool = False) -> bool:
        """Write the master to the end even if cancelled meanwhile; True if cancelled.

        Once its write has started the master may land whatever we do, so a cancellation
        waits for the write and is re-raised only after the checks that follow it.
        """
        write = asyncio.ensure_future(
            self.store.put_bytes(
                master_key,
                text.encode(),
                content_type=content_type_for(master_key),
                cache_control=cache_control_for(master_key, growing=growing),
            )
        )
        cancelled = False
        while True:
            try:
                await asyncio.shield(write)
                return cancelled
            except asyncio.CancelledError:
                if write.done():
                    raise  # the write itself was cancelled: nothing landed
                cancelled = True

    async def remove_version(self, video_id: str, version: str) -> None:
        try:
            await self.store.delete_prefix(keys.version_prefix(video_id, version))
        except Exception as exc:  # best effort: a later publish removes it as an old version
            log.warning("could not remove unpublished %s of %s: %s", version, video_id, exc)

    async def remove_old_versions(self, video_id: str, version: str) -> int:
        """Delete every object of the video except the master and `version`.

        Skipped when the master no longer points at `version` (a newer publication won the
        race and will clean up itself).
        """
        master_key = keys.master_key(video_id)
        try:
            current = (await self.store.read(master_key)).decode(errors="replace")
        except ObjectNotFound:
            return 0
        if f"\n{version}/" not in current:
            return 0
        keep = keys.version_prefix(video_id, version)
        stale = [
            info.key
            async for info in self.store.list(keys.video_prefix(video_id))
            if info.key != master_key and not info.key.startswith(keep)
        ]
        limit = asyncio.Semaphore(self.concurrency)

        async def delete(key: str) -> None:
            async with limit:
                await self.store.delete(key)

        try:
            async with asyncio.TaskGroup() as group:
                for key in stale:
                    group.create_task(delete(key))
        except Exception as exc:  # leftovers are harmless: nothing points at them
            log.warning("could not remove old versions of %s: %s", video_id, exc)
        return len(stale)
