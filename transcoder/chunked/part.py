"""One part of a chunked video: encode it, store its media and manifest, mark it done.

A video chunk is encoded into every rung (video only) by one ffmpeg run reading only its
time range; the audio part encodes the whole video's audio into every audio rendition.
Segments go straight to their published names under the version prefix (chunk 0 also
writes each rung's `init.mp4`, the chunk holding the poster frame the poster), then the
part's manifest, then the ledger is told. The part that completes the set queues the join.

Safe to run more than once (at-least-once delivery): a part already done skips its work;
a part whose video is already published, or failed, does nothing; a part that finds its
video deleted removes what it wrote. Every middle chunk must come out exactly as long as
planned (a gap or an overlap would show at the joint): otherwise it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from transcoder.chunked.args import audio_args, chunk_args
from transcoder.chunked.jobs import HandedOn, describe_part, join_payload, part_of, plan_of
from transcoder.chunked.ledger import PartLedger
from transcoder.chunked.manifest import (
    PartManifest,
    PartRendition,
    manifest_key,
    measure_audio,
    measure_video,
)
from transcoder.chunked.plan import AUDIO_PART, ChunkPlan
from transcoder.chunked.progress import raise_progress, video_percent
from transcoder.chunked.records import nothing_to_do
from transcoder.chunked.source import local_source, source_missing
from transcoder.errors import FfmpegError, PermanentJobError, VideoGone
from transcoder.ffmpeg_args import EncodeOptions, OutputLayout
from transcoder.publish import settle_before_cancel
from transcoder.runner import run_ffmpeg, truncation_reason
from transcoder.scratch import OUTPUT_OVERHEAD, ScratchSpace, scratch_needed
from vodstack import keys
from vodstack.backends import Backends
from vodstack.media import cache_control_for, content_type_for
from vodstack.queue import Job
from vodstack.settings import Settings

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
LENGTH_TOLERANCE_FRAMES = 0.25
"""How far (in frames) a middle chunk's length may differ from the plan: EXTINF rounding."""


class PartRunner:
    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        space: ScratchSpace,
        ledger: Callable[[], Awaitable[PartLedger]],
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.space = space
        self._ledger = ledger

    async def run(self, job: Job, on_progress: ProgressCallback) -> HandedOn:
        plan, part = plan_of(job), part_of(job)
        if part not in plan.parts:
            raise PermanentJobError(f"the chunk plan has no part {part!r}")
        what = describe_part(plan, part)
        idle = await nothing_to_do(self.backends.catalog, job.video_id, plan.version)
        if idle is not None:
            return HandedOn(f"{what}: nothing to do ({idle})")
        ledger = await self._ledger()
        state = await ledger.state(job.video_id, plan.version)
        if part not in state.done:
            await self._make(job, plan, part, on_progress)
            state = await ledger.mark_done(job.video_id, plan.version, part)
        await raise_progress(self.backends.catalog, job.video_id, video_percent(plan, state))
        if not state.complete(plan.parts):
            return HandedOn(f"{what} stored ({len(state.done)} of {len(plan.parts)} parts)")
        await self.backends.queue.enqueue(
            job.video_id, join_payload(job, plan), max_attempts=job.max_attempts
        )
        return HandedOn(f"{what} stored, the last of {len(plan.parts)} parts: join queued")

    # -- encoding ------------------------------------------------------------------------

    async def _make(
        self, job: Job, plan: ChunkPlan, part: str, on_progress: ProgressCallback
    ) -> None:
        scratch = self.space.job_dir(f"{job.id}-{job.attempts}")
        await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
        try:
            source_key = str(job.payload.get("source_key") or keys.source_key(job.video_id))
            source = await local_source(
                self.backends, job.video_id, source_key, scratch, self.space
            )
            try:
                manifest, layout, poster = await self._encode(
                    plan, part, source, scratch, on_progress
                )
            except (FfmpegError, PermanentJobError):
                if not await asyncio.to_thread(source.exists):
                    await source_missing(self.backends, job.video_id)
                raise
            await self._store(job.video_id, plan, manifest, layout, poster)
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, scratch, True))

    async def _encode(
        self,
        plan: ChunkPlan,
        part: str,
        source: Path,
        scratch: Path,
        on_progress: ProgressCallback,
    ) -> tuple[PartManifest, OutputLayout, Path | None]:
        settings = self.settings
        options = EncodeOptions.from_settings(settings)
        extension = ".m4s" if plan.segment_format == "fmp4" else ".ts"
        layout = OutputLayout(scratch / "out", extension)
        poster: Path | None = None
        if part == AUDIO_PART:
            names = [audio.name for audio in plan.audio_renditions]
            bits = sum(audio.bitrate for audio in plan.audio_renditions)
            await self.space.reserve(
                scratch_needed(duration=0, rungs=())
                + int(bits / 8 * plan.duration * OUTPUT_OVERHEAD),
                "the audio",
            )
            command = audio_args(source, plan, layout, options)
            seconds = plan.duration
        else:
            chunk = plan.chunk(part)
            names = [rung.name for rung in plan.rungs]
            seconds = plan.chunk_seconds(chunk)
            await self.space.reserve(
                scratch_needed(duration=seconds, rungs=plan.rungs), describe_part(plan, part)
            )
            if chunk.index == plan.poster_chunk:
                poster = layout.poster
            command = chunk_args(source, plan, chunk, layout, options, poster=poster)
        for name in names:
            await asyncio.to_thread(layout.rendition_dir(name).mkdir, parents=True)
        warnings = await run_ffmpeg(
            command,
            time_limit=settings.job_timeout,
            duration=seconds,
            on_progress=on_progress,
            hide_paths=[source, scratch],
            stall_timeout=settings.ffmpeg_stall_timeout,
            nice=settings.ffmpeg_nice,
        )
        if part == AUDIO_PART:
            renditions = await asyncio.to_thread(measure_audio, layout, names)
        else:
            renditions = await asyncio.to_thread(measure_video, layout, plan.rungs)
        self._check_length(plan, part, renditions, seconds, warnings)
        if poster is not None and not await asyncio.to_thread(poster.is_file):
            log.warning("ffmpeg made no poster for %s", plan.version)
            poster = None
        manifest = PartManifest(part=part, renditions=tuple(renditions), poster=poster is not None)
        return manifest, layout, poster

    @staticmethod
    def _check_length(
        plan: ChunkPlan,
        part: str,
        renditions: list[PartRendition],
        expected: float,
        warnings: list[str],
    ) -> None:
        encoded = min(rendition.duration for rendition in renditions)
        truncated = truncation_reason(expected, encoded, warnings)
        if truncated is not None:
            raise PermanentJobError(truncated)
        if part == AUDIO_PART:
            return
        chunk = plan.chunk(part)
        if chunk.index == 0 or chunk.end_frame is None:
            return  # the source may start late or end early: the whole encode would too
        tolerance = LENGTH_TOLERANCE_FRAMES / float(plan.frame_rate)
        for rendition in renditions:
            if abs(rendition.duration - expected) > tolerance:
                raise PermanentJobError(
                    f"{describe_part(plan, part)} came out {rendition.duration:.3f}s long "
                    f"instead of {expected:.3f}s ({rendition.name}), so it would not join "
                    "seamlessly; this video cannot be transcoded in chunks"
                )

    # -- storing -------------------------------------------------------------------------

    async def _store(
        self,
        video_id: str,
        plan: ChunkPlan,
        manifest: PartManifest,
        layout: OutputLayout,
        poster: Path | None,
    ) -> None:
        """Media first, the manifest last; everything removed again if the video is
        deleted meanwhile (the delete may have swept the prefix before these landed)."""
        entries: list[tuple[str, Path]] = []
        first_chunk = manifest.part == AUDIO_PART or plan.chunk(manifest.part).index == 0
        for rendition in manifest.renditions:
            prefix = keys.rendition_prefix(video_id, plan.version, rendition.name)
            for name in rendition.files:
                if name == rendition.init and not first_chunk:
                    continue  # the same bytes as chunk 0's (the join checks the hashes)
                entries.append((prefix + name, layout.rendition_dir(rendition.name) / name))
        if poster is not None:
            entries.append((keys.poster_key(video_id, plan.version), poster))
        written = [key for key, _path in entries]
        manifest_at = manifest_key(video_id, plan.version, manifest.part)
        try:
            await self._put_files(entries)
            if await self.backends.catalog.get(video_id) is None:
                raise VideoGone(video_id)
            await settle_before_cancel(
                self.backends.store.put_bytes(
                    manifest_at, manifest.to_json().encode(),
                    content_type=content_type_for(manifest_at), cache_control="no-store",
                )
            )  # fmt: skip
        except BaseException:
            await asyncio.shield(self._discard_if_deleted(video_id, [*written, manifest_at]))
            raise

    async def _put_files(self, entries: Iterable[tuple[str, Path]]) -> None:
        limit = asyncio.Semaphore(max(1, self.settings.publish_concurrency))
        store = self.backends.store

        async def put(key: str, path: Path) -> None:
            async with limit:
                await settle_before_cancel(
                    store.put_file(
                        key, path,
                        content_type=content_type_for(key), cache_control=cache_control_for(key),
                    )
                )  # fmt: skip

        async with asyncio.TaskGroup() as group:
            for key, path in entries:
                group.create_task(put(key, path))

    async def _discard_if_deleted(self, video_id: str, written: list[str]) -> None:
        with contextlib.suppress(Exception):
            if await self.backends.catalog.get(video_id) is not None:
                return  # a retry writes the same names again; nothing points at them yet
            for key in written:
                await self.backends.store.delete(key)
