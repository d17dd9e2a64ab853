"""One transcode attempt: source → probe → ladder → one ffmpeg run, published as it goes.

While ffmpeg runs, `transcoder.streaming` uploads its segments as they complete and (for a
video not published yet) makes the video playable as soon as every rendition has one;
when ffmpeg is done, the outputs are measured and the finished playlists and master are
written. The worker runs this inside a leased job; the pipeline knows nothing about leases
beyond the `before_master` hook it is given. Scratch space is removed in `finally`; an
attempt that does not finish takes down what it published (`StreamingPublisher.abandon`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from transcoder.errors import FfmpegError, PermanentJobError, VideoGone
from transcoder.ffmpeg_args import EncodeOptions, OutputLayout, transcode_args
from transcoder.ladder import Rung, ladder_for
from transcoder.master import build_master, rendition_record
from transcoder.measure import measure_outputs
from transcoder.media_playlist import expected_target_duration
from transcoder.probe import ProbeResult, probe
from transcoder.runner import run_ffmpeg, truncation_reason
from transcoder.scratch import ScratchSpace, scratch_needed
from transcoder.streaming import StreamingPublisher
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
    playable_at: float | None = None
    """When the video became playable while it was being transcoded (else None)."""


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
        on_playable: Callable[[str], Awaitable[None]] | None = None,
        on_withdrawn: Callable[[], Awaitable[None]] | None = None,
        space: ScratchSpace | None = None,
    ) -> None:
        """`on_playable(version)` runs once a growing master is out (the video can be
        watched while it is transcoded); `on_withdrawn` when a master that was not
        finished is taken down (this attempt's, or one an attempt that died left)."""
        self.settings = settings
        self.space = space
        self.backends = backends
        self.video_id = video_id
        self.source_key = source_key
        self.scratch = scratch
        self._on_progress = on_progress or (lambda percent: None)
        self._before_master = before_master
        self._on_playable = on_playable
        self._on_withdrawn = on_withdrawn
        self.timings: dict[str, float] = {}
        self._started = time.monotonic()
        self.playable_at: float | None = None

    async def run(self) -> TranscodeResult:
        self._started = time.monotonic()
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
        await asyncio.to_thread(_make_dirs, [layout.rendition_dir(rung.name) for rung in rungs])
        version = keys.new_version()
        publisher = StreamingPublisher(
            self.backends.store,
            self.backends.catalog,
            video_id=self.video_id,
            version=version,
            layout=layout,
            rungs=rungs,
            declared_target=expected_target_duration(
                options.segment_duration, options.keyframe_interval
            ),
            concurrency=settings.publish_concurrency,
            before_master=self._before_master,
            on_playable=lambda: self._playable(version),
            on_withdrawn=self._on_withdrawn,
        )
        await publisher.prepare(allow_progressive=settings.progressive_publish)
        self._timed("probe", started)
        try:
            return await self._encode_and_publish(source, info, rungs, layout, options, publisher)
        except BaseException:
            await asyncio.shield(publisher.abandon())
            raise

    async def _playable(self, version: str) -> None:
        self._timed("playable", self._started)
        self.playable_at = time.time()
        if self._on_playable is not None:
            await self._on_playable(version)

    async def _encode_and_publish(
        self,
        source: Path,
        info: ProbeResult,
        rungs: list[Rung],
        layout: OutputLayout,
        options: EncodeOptions,
        publisher: StreamingPublisher,
    ) -> TranscodeResult:
        settings = self.settings
        started = time.monotonic()
        encoding = asyncio.ensure_future(
            run_ffmpeg(
                transcode_args(source, info, rungs, layout, options),
                time_limit=settings.job_timeout,
                duration=info.duration,
                on_progress=lambda percent: self._on_progress(percent * ENCODE_SHARE / 100),
                hide_paths=[source, self.scratch],
                stall_timeout=settings.ffmpeg_stall_timeout,
                nice=settings.ffmpeg_nice,
            )
        )
        following = asyncio.ensure_future(publisher.follow(encoding))
        warnings = await _together(encoding, following)
        self._timed("encode", started)

        started = time.monotonic()
        renditions = await asyncio.to_thread(measure_outputs, layout, rungs)
        encoded = min(rendition.stats.duration for rendition in renditions)
        truncated = truncation_reason(info.duration, encoded, warnings)
        if truncated is not None:
            raise PermanentJobError(truncated)
        poster = layout.poster if await asyncio.to_thread(layout.poster.is_file) else None
        if poster is None:
            log.warning("ffmpeg made no poster for %s", self.video_id)
        self._on_progress(ENCODE_SHARE)
        await publisher.finish(build_master([r.stats for r in renditions], publisher.version),
                               poster)
        self._timed("publish", started)
        return TranscodeResult(
            version=publisher.version,
            duration=round(info.duration, 3),
            renditions=tuple(rendition_record(r.stats) for r in renditions),
            timings=dict(self.timings),
            playable_at=self.playable_at,
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


def _make_dirs(directories: list[Path]) -> None:
    for directory in directories:
        directory.mkdir(parents=True)


async def _together(
    encoding: asyncio.Future[list[str]], following: asyncio.Future[None]
) -> list[str]:
    """ffmpeg's warnings once both ffmpeg and the publisher following it are done.

    If either fails (or this is cancelled) the other is stopped (ffmpeg killed) and waited
    for before the failure is raised: the publisher's, else ffmpeg's.
    """
    try:
        both: list[asyncio.Future[Any]] = [encoding, following]
        await asyncio.wait(both, return_when=asyncio.FIRST_EXCEPTION)
        for task in (following, encoding):
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        await following  # ffmpeg is done: the publisher's last round
        return encoding.result()
    finally:
        for task in (encoding, following):
            task.cancel()
        await asyncio.gather(encoding, following, return_exceptions=True)
