"""The join: the parts' manifests → one media playlist per rendition → the master, last.

Nothing is re-encoded or copied: the parts wrote their segments under their final names.
The join reads the manifests, checks the chunks can be joined (same init segment bytes,
same codec, unique names), writes the playlists, then — with the lease checked and the
video still there — the master, and removes older versions, as a single-job publication
does. It returns the same result as the single-job pipeline, so the worker marks the
video ready (webhooks, edge warming, source clean-up) the same way.

Idempotent: the playlists and master are the same bytes however often they are written.
A join that fails before the master leaves the parts in place for its next attempt (they
are the expensive part); the version is removed with the video, or as an old version by
the next publication. Only the join job holding the ledger's claim joins a version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from transcoder.chunked.jobs import HandedOn, plan_of
from transcoder.chunked.join import (
    JoinError,
    audio_rendition,
    audio_stats,
    joined_rendition,
    joined_variants,
    master_with_audio_groups,
    media_playlist,
    video_stats,
)
from transcoder.chunked.ledger import PartLedger
from transcoder.chunked.manifest import PartManifest, manifest_key
from transcoder.chunked.plan import ChunkPlan
from transcoder.chunked.progress import raise_progress
from transcoder.chunked.records import nothing_to_do
from transcoder.errors import PermanentJobError, VideoGone
from transcoder.ffmpeg_args import PLAYLIST_NAME
from transcoder.pipeline import ENCODE_SHARE, TranscodeResult
from transcoder.publish import Publisher, settle_before_cancel
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Rendition
from vodstack.media import cache_control_for, content_type_for
from vodstack.queue import Job
from vodstack.settings import Settings
from vodstack.store import ObjectNotFound


class PartsMissing(Exception):
    """The ledger does not (yet) list every part as done: transient, tried again later."""


class Joiner:
    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        ledger: Callable[[], Awaitable[PartLedger]],
    ) -> None:
        self.settings = settings
        self.backends = backends
        self._ledger = ledger

    async def run(
        self, job: Job, before_master: Callable[[], Awaitable[None]]
    ) -> HandedOn | TranscodeResult:
        plan = plan_of(job)
        video_id = job.video_id
        idle = await nothing_to_do(self.backends.catalog, video_id, plan.version)
        if idle is not None:
            return HandedOn(f"join: nothing to do ({idle})")
        ledger = await self._ledger()
        if not await ledger.claim_join(video_id, plan.version, job.id):
            return HandedOn(f"join: another join job owns version {plan.version}")
        state = await ledger.state(video_id, plan.version)
        if not state.complete(plan.parts):
            missing = sorted(set(plan.parts) - state.done)
            raise PartsMissing(f"parts not done yet: {', '.join(missing)}")
        await raise_progress(self.backends.catalog, video_id, ENCODE_SHARE)

        started = time.monotonic()
        manifests = await self._manifests(video_id, plan)
        try:
            playlists, master, records = self._build(video_id, plan, manifests)
        except (JoinError, KeyError) as exc:
            reason = exc.reason if isinstance(exc, JoinError) else f"a part made no {exc}"
            raise PermanentJobError(reason) from None
        await self._put_playlists(playlists)
        await before_master()
        await self._publish_master(video_id, master)
        await Publisher(
            self.backends.store, self.backends.catalog,
            concurrency=self.settings.publish_concurrency,
        ).remove_old_versions(video_id, plan.version)  # fmt: skip
        return TranscodeResult(
            version=plan.version,
            duration=round(plan.duration, 3),
            renditions=records,
            timings={"join": round(time.monotonic() - started, 3)},
        )

    async def _manifests(self, video_id: str, plan: ChunkPlan) -> dict[str, PartManifest]:
        async def read(part: str) -> PartManifest:
            try:
                data = await self.backends.store.read(manifest_key(video_id, plan.version, part))
            except ObjectNotFound:
                if await self.backends.catalog.get(video_id) is None:
                    raise VideoGone(video_id) from None
                raise PermanentJobError(
                    f"the output of part {part} is no longer in the store"
                ) from None
            return PartManifest.from_json(data)

        found = await asyncio.gather(*(read(part) for part in plan.parts))
        return {manifest.part: manifest for manifest in found}

    @staticmethod
    def _build(
        video_id: str, plan: ChunkPlan, manifests: dict[str, PartManifest]
    ) -> tuple[dict[str, str], str, tuple[Rendition, ...]]:
        """(playlist key → text, master text, catalogue records), all pure."""
        playlists: dict[str, str] = {}
        videos = {}
        for rung in plan.rungs:
            rendition = joined_rendition(plan, manifests, rung.name)
            playlists[_playlist_key(video_id, plan.version, rung.name)] = media_playlist(rendition)
            videos[rung.name] = video_stats(rung, rendition)
        audios = {}
        for audio in plan.audio_renditions:
            rendition = audio_rendition(manifests, audio)
            playlists[_playlist_key(video_id, plan.version, audio.name)] = media_playlist(rendition)
            audios[audio.name] = audio_stats(audio, rendition)
        variants = joined_variants(plan, videos, audios)
        master = master_with_audio_groups(variants, list(audios.values()), plan.version)
        return playlists, master, tuple(variant.record() for variant in variants)

    async def _put_playlists(self, playlists: dict[str, str]) -> None:
        store = self.backends.store
        async with asyncio.TaskGroup() as group:
            for key, text in playlists.items():
                group.create_task(
                    settle_before_cancel(
                        store.put_bytes(
                            key, text.encode(), content_type=content_type_for(key),
                            cache_control=cache_control_for(key),
                        )
                    )
                )  # fmt: skip

    async def _publish_master(self, video_id: str, text: str) -> None:
        """Write the master if the video is still there, and take it down again if the
        video was deleted while it was written; a cancellation waits for the write."""
        catalog, store = self.backends.catalog, self.backends.store
        if await catalog.get(video_id) is None:
            raise VideoGone(video_id)
        key = keys.master_key(video_id)
        write = asyncio.ensure_future(
            store.put_bytes(
                key, text.encode(),
                content_type=content_type_for(key), cache_control=cache_control_for(key),
            )
        )  # fmt: skip
        cancelled = False
        while True:
            try:
                await asyncio.shield(write)
                break
            except asyncio.CancelledError:
                if write.done():
                    raise
                cancelled = True
        if await catalog.get(video_id) is None:
            await store.delete(key)
            raise VideoGone(video_id)
        if cancelled:
            raise asyncio.CancelledError()


def _playlist_key(video_id: str, version: str, rendition: str) -> str:
    return keys.rendition_prefix(video_id, version, rendition) + PLAYLIST_NAME
