"""One transcode attempt: source → probe → ladder → one ffmpeg run → measure → publish.

The worker runs this inside a leased job; the pipeline knows nothing about leases beyond
the `before_master` hook it is given. Scratch space is removed in `finally`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from transcoder.errors import FfmpegError, PermanentJobError, VideoGone
from transcoder.ffmpeg_args import EncodeOptions, OutputLayout, transcode_args
from transcoder.ladder import ladder_for
from transcoder.master import build_master, rendition_record
from transcoder.measure import measure_outputs
from transcoder.probe import probe
from transcoder.publish import Publication, Publisher
from transcoder.runner import run_ffmpeg, truncation_reason
from transcoder.scratch import ScratchSpace, scratch_needed
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Rendition
from vodstack.settings import Settings
from vodstack.store import ObjectNotFound

log = logging.getLogger(__name__)

ENCODE_SHARE = 95.0
"""Progress reaches 95 % when ffmpeg is done; publishing takes it to 99, ready is 100."""


@dataclass(frozen=True)
class TranscodeResult:
    version: str
    duration: float
    renditions: tuple[Rendition, ...]
    timings: dict[str, float] = field(default_factory=dict)


class TranscodePipeline:
    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        *,
        video_id: str,
        source_key: str,
        scratch: Path,
        on_progress: Callable[[float], None] | None = None,
        before_master: Callable[[], Awaitable[None]] | None = None,
        space: ScratchSpace | None = None,
    ) -> None:
        self.settings = settings
        self.space = space
        self.backends = backends
        self.video_id = video_id
        self.source_key = source_key
        self.scratch = scratch
        self._on_progress = on_progress or (lambda percent: None)
        self._before_master = before_master
        self.timings: dict[str, float] = {}

    async def run(self) -> TranscodeResult:
        await asyncio.to_thread(self.scratch.mkdir, parents=True, exist_ok=True)
        try:
            return await self._run()
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, self.scratch, True))

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 3)

    async def _run(self) -> TranscodeResult:
        started = time.monotonic()
        source = await self._source()
        self._timed("fetch", started)
        try:
            return await self._transcode(source)
        except (FfmpegError, PermanentJobError):
            # Read in place from a local store, the upload may vanish mid-job (the video
            # deleted): that is not a broken file, nor worth a retry.
            if not await asyncio.to_thread(source.exists):
                await self._source_missing()
            raise

    async def _transcode(self, source: Path) -> TranscodeResult:
        settings = self.settings

        started = time.monotonic()
        info = await probe(
            source,
            ffprobe=settings.ffprobe_path,
            max_dimension=settings.max_video_dimension,
            max_duration=settings.max_duration,
            nice=settings.ffmpeg_nice,
        )
        rungs = ladder_for(info, top_rung=settings.top_rung)
        if self.space is not None:
            needed = scratch_needed(duration=info.duration, rungs=rungs)
            await self.space.reserve(needed, "the renditions")
        options = EncodeOptions.from_settings(settings)
        layout = OutputLayout(self.scratch / "out", options.segment_extension)
        for rung in rungs:
            await asyncio.to_thread(layout.rendition_dir(rung.name).mkdir, parents=True)
        self._timed("probe", started)

        started = time.monotonic()
        warnings = await run_ffmpeg(
            transcode_args(source, info, rungs, layout, options),
            time_limit=settings.job_timeout,
            duration=info.duration,
            on_progress=lambda percent: self._on_progress(percent * ENCODE_SHARE / 100),
            hide_paths=[source, self.scratch],
            stall_timeout=settings.ffmpeg_stall_timeout,
            nice=settings.ffmpeg_nice,
        )
        self._timed("encode", started)

        started = time.monotonic()
        renditions = await asyncio.to_thread(measure_outputs, layout, rungs)
        encoded = min(rendition.stats.duration for rendition in renditions)
        truncated = truncation_reason(info.duration, encoded, warnings)
        if truncated is not None:
            raise PermanentJobError(truncated)
        version = keys.new_version()
        poster = layout.poster if await asyncio.to_thread(layout.poster.is_file) else None
        if poster is None:
            log.warning("ffmpeg made no poster for %s", self.video_id)
        publication = Publication(
            video_id=self.video_id,
            version=version,
            renditions=renditions,
            poster=poster,
            master_text=build_master([r.stats for r in renditions], version),
        )
        self._on_progress(ENCODE_SHARE)
        publisher = Publisher(
            self.backends.store,
            self.backends.catalog,
            concurrency=settings.publish_concurrency,
        )
        await publisher.publish(publication, before_master=self._before_master)
        self._timed("publish", started)
        return TranscodeResult(
            version=version,
            duration=round(info.duration, 3),
            renditions=tuple(rendition_record(r.stats) for r in renditions),
            timings=dict(self.timings),
        )

    async def _source(self) -> Path:
        """A local path of the upload: the store's own file when local, else a download."""
        store = self.backends.store
        local = store.local_path(self.source_key)
        if local is not None:
            if await asyncio.to_thread(local.is_file):
                return local
            await self._source_missing()
        target = self.scratch / "source"
        try:
            if self.space is not None:
                size = (await store.head(self.source_key)).size
                await self.space.reserve(scratch_needed(duration=0, rungs=(), source_size=size),
                                         "the upload")
            await store.download(self.source_key, target)
        except ObjectNotFound:
            await self._source_missing()
        return target

    async def _source_missing(self) -> NoReturn:
        if await self.backends.catalog.get(self.video_id) is None:
            raise VideoGone(self.video_id)
        raise PermanentJobError("the uploaded file is no longer in the store; upload it again")
