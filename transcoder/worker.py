"""The transcoder worker: lease jobs, run them, record the outcome.

`settings.worker_concurrency` slots each lease and run one job at a time. While a job runs
its lease is renewed every visibility_timeout/3 and the video's record is looked at every
few seconds; if the lease is lost (expired and taken by another worker, or the job
cancelled) or the video is deleted, ffmpeg is killed and the job abandoned. Outcomes:

- published: catalogue `ready` (duration, renditions, version, ready_at, progress 100);
- permanent error (not a playable video): `failed` at once with the reason, no retry;
- published: the edges forget the master (a cached 404) and warm the first seconds;
- `ready` and `failed` write their webhook deliveries to the outbox in the same step
  (`Catalog.update_and_notify`); sending them is a dispatcher's job, never the worker's;
- anything else (store/queue unavailable, ffmpeg timeout, ...): retried after
  `retry_delay` (exponential backoff, full jitter) until max attempts, then `failed`;
- not enough scratch space: handed back for later like any transient failure;
- shutdown: a job whose progress says it ends within `worker_shutdown_grace` is let
  finish; any other is stopped (ffmpeg killed) and released so another worker takes it
  at once.

Chunked transcoding (`transcoder.chunked`): with `chunk_duration` set, an upload's job may
end by queueing part jobs instead of publishing; part and join jobs are run by
`ChunkedJobs`. They are leased, heartbeated, retried and failed like any job, but only the
join marks the video ready, and a part or join that gives up fails the video (saying
which part) and cancels the video's other jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from prometheus_client import CollectorRegistry

from edge_cache.fleet import EdgeFleet
from transcoder.chunked.dispatch import ChunkedJobs, HandedOn
from transcoder.chunked.jobs import describe_job, is_chunked_job, video_reason
from transcoder.errors import (
    FfmpegError,
    FfmpegTimeout,
    LeaseLost,
    PermanentJobError,
    VideoGone,
)
from transcoder.ffmpeg_args import PLAYLIST_NAME
from transcoder.pipeline import TranscodePipeline, TranscodeResult
from transcoder.progress import ProgressReporter
from transcoder.retry import retry_delay
from transcoder.runner import clean_line
from transcoder.scratch import ScratchSpace, ScratchSpaceUnavailable
from transcoder.warm_paths import published_paths
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video, VideoStatus
from vodstack.errors import QueueUnavailable, StoreUnavailable
from vodstack.media import is_growing
from vodstack.metrics.jobs import JobMetrics
from vodstack.queue import Job
from vodstack.request_ids import bound
from vodstack.settings import Settings
from vodstack.store import ObjectNotFound
from vodstack.web import VideoChanged
from vodstack.webhooks.events import VIDEO_FAILED, VIDEO_READY

log = logging.getLogger(__name__)

LEASE_WAIT = 1.0
"""Longest a slot waits in one lease call: also bounds how long stopping takes."""
QUEUE_DOWN_BACKOFF = (1.0, 30.0)
STOP_TIMEOUT = 30.0
"""Longest a stopping slot may take to hand its job back before it is cancelled."""
DELETE_CHECK_INTERVAL = 2.0
"""How often a running job looks whether its video was deleted (or its job cancelled)."""
GRACE_POLL = 0.2
OUTCOME_OF_EVENT = {
    "succeeded": "succeeded",
    "failed": "failed",
    "retry": "retried",
    "abandoned": "abandoned",
    "unrecorded": "abandoned",
    "handed on": "succeeded",
}
"""The job metrics' outcome for each job event that ends an attempt (a plan or part of a
chunked transcode that did its share is "handed on": it succeeded)."""


class Abort(Enum):
    LEASE_LOST = "lease lost"
    VIDEO_DELETED = "video deleted"
    SHUTDOWN = "worker shutting down"


@dataclass(eq=False)
class ActiveJob:
    job: Job
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task[TranscodeResult | HandedOn] | None = None
    abort_reason: Abort | None = None
    progress: float = 0.0
    """Percent done, as last reported by the pipeline."""

    def expected_left(self, now: float) -> float:
        """Seconds this job should still need, from its progress so far (inf if unknown)."""
        if self.progress <= 0:
            return float("inf")
        elapsed = now - self.started
        return elapsed * (100.0 - self.progress) / self.progress

    def abort(self, reason: Abort) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        if self.task is not None:
            self.task.cancel()


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def describe_failure(exc: BaseException) -> str:
    """A reason for a transient failure, fit for the catalogue (no server paths)."""
    if isinstance(exc, ScratchSpaceUnavailable):
        return exc.reason
    if isinstance(exc, FfmpegTimeout):
        return exc.message
    if isinstance(exc, FfmpegError):
        last = (
            clean_line(exc.stderr_tail[-1], exc.hide_paths)
            if exc.stderr_tail else "no error output"
        )
        return f"{exc.message} ({last})"
    if isinstance(exc, StoreUnavailable):
        return f"the object store was unavailable ({exc})"
    if isinstance(exc, QueueUnavailable):
        return f"the job queue was unavailable ({exc})"
    if isinstance(exc, TimeoutError):
        return "a storage operation timed out"
    return f"internal error ({type(exc).__name__}); see the worker log"


class Worker:
    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        *,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        edges: EdgeFleet | None = None,
        metrics: JobMetrics | None = None,
        on_changed: Sequence[VideoChanged] = (),
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.edges = edges
        self.on_changed = on_changed
        """Told a video's id whenever its publication changes, before the edges."""
        self.metrics = metrics if metrics is not None else JobMetrics(CollectorRegistry())
        self.worker_id = worker_id or new_worker_id()
        self._rng = rng or random.Random()
        self._stopping = asyncio.Event()
        self._slots: list[asyncio.Task[None]] = []
        self._active: set[ActiveJob] = set()
        self._stop_task: asyncio.Task[None] | None = None
        self.space = ScratchSpace(settings.scratch_path, min_free=settings.min_free_space)
        self.chunked = ChunkedJobs(settings, backends, self.space)
        self.jobs_done = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the slots; returns at once (the backends must be started already)."""
        self._stopping.clear()
        self._stop_task = None
        await self.space.open()
        count = max(1, self.settings.worker_concurrency)
        self._slots = [
            asyncio.create_task(self._slot(number), name=f"transcoder-slot-{number}")
            for number in range(count)
        ]
        log.info("worker %s started with %d slot(s)", self.worker_id, count)

    def begin_stop(self, grace: float | None = None) -> asyncio.Task[None]:
        """Stop leasing now and start stopping (see `stop`); idempotent."""
        self._stopping.set()
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self._stop(grace), name="transcoder-stop")
        return self._stop_task

    async def stop(self, grace: float | None = None) -> None:
        """Stop leasing; let jobs that will end within the grace period finish, stop the
        others (ffmpeg killed) and hand their jobs back to the queue."""
        await asyncio.shield(self.begin_stop(grace))

    async def _stop(self, grace: float | None) -> None:
        grace = self.settings.worker_shutdown_grace if grace is None else grace
        deadline = time.monotonic() + grace
        while self._active:
            now = time.monotonic()
            for active in list(self._active):
                if now >= deadline or now + active.expected_left(now) > deadline:
                    active.abort(Abort.SHUTDOWN)
            if now >= deadline:
                break
            await asyncio.sleep(GRACE_POLL)
        if self._slots:
            _done, pending = await asyncio.wait(self._slots, timeout=STOP_TIMEOUT)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._slots, return_exceptions=True)
            self._slots = []
        await self.chunked.close()
        await self.space.close()
        log.info("worker %s stopped", self.worker_id)

    @property
    def running_jobs(self) -> int:
        return len(self._active)

    # -- leasing ---------------------------------------------------------------------------

    async def _slot(self, number: int) -> None:
        queue = self.backends.queue
        backoff = QUEUE_DOWN_BACKOFF[0]
        while not self._stopping.is_set():
            try:
                job = await queue.lease(
                    self.worker_id, self.settings.visibility_timeout, LEASE_WAIT
                )
            except QueueUnavailable as exc:
                log.warning("cannot lease jobs (retrying in %.0fs): %s", backoff, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, QUEUE_DOWN_BACKOFF[1])
                continue
            backoff = QUEUE_DOWN_BACKOFF[0]
            if job is None:
                continue
            if self._stopping.is_set():
                await self._settle(queue.release(job), job, "release")
                break
            try:
                await self.run_job(job)
            except Exception:  # never let one job take the slot down
                log.exception("unexpected error handling job %s of video %s", job.id, job.video_id)

    # -- one job ---------------------------------------------------------------------------

    def _fields(self, job: Job, **more: Any) -> dict[str, Any]:
        return {
            "video_id": job.video_id,
            "job_id": job.id,
            "attempt": job.attempts,
            "max_attempts": job.max_attempts,
            "request_id": job.payload.get("request_id"),
            **more,
        }

    def _log(
        self,
        level: int,
        event: str,
        job: Job,
        elapsed: float | None,
        detail: str = "",
        **fields: Any,
    ) -> None:
        """One line per job event, with its duration; the fields also go to JSON logs.

        Each event is counted in the job metrics here too, so logs and metrics agree.
        """
        if event == "started":
            self.metrics.started.inc()
        elif event in OUTCOME_OF_EVENT:
            self.metrics.finish(OUTCOME_OF_EVENT[event], elapsed)
        took = f" in {elapsed:.2f}s" if elapsed is not None else ""
        log.log(
            level,
            "job %s: video=%s attempt=%d/%d%s%s",
            event,
            job.video_id,
            job.attempts,
            job.max_attempts,
            took,
            f" {detail}" if detail else "",
            extra=self._fields(
                job,
                event=event,
                duration=None if elapsed is None else round(elapsed, 3),
                **fields,
            ),
        )

    async def run_job(self, job: Job) -> None:
        """Run one leased job to its outcome (also used by tests).

        Every log line of the job, its tasks' included, carries the upload's request id.
        """
        request_id = job.payload.get("request_id")
        with bound(request_id if isinstance(request_id, str) else None):
            self.metrics.running.inc()
            try:
                await self._run_job(job)
            finally:
                self.metrics.running.dec()

    async def _run_job(self, job: Job) -> None:
        active = ActiveJob(job)
        if job.attempts > job.max_attempts:
            last = job.last_error or "the worker running it stopped without finishing"
            reason = f"gave up after {job.max_attempts} attempts; last problem: {last}"
            await self._fail(job, reason)
            self._log(logging.WARNING, "failed", job, None, reason)
            return

        self._log(logging.INFO, "started", job, None, describe_job(job))
        reporter = self.chunked.reporter(job) or ProgressReporter(
            self.backends.catalog, job.video_id, job.attempts
        )

        def on_progress(percent: float) -> None:
            active.progress = percent
            reporter(percent)

        self._active.add(active)
        active.task = asyncio.create_task(self._transcode(job, active, on_progress))
        watcher = asyncio.create_task(self._watch(active))
        outcome: BaseException | TranscodeResult | HandedOn
        try:
            outcome = await active.task
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if active.abort_reason is None or (current is not None and current.cancelling()):
                active.task.cancel()
                raise
            outcome = exc
        except Exception as exc:
            outcome = exc
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await reporter.close()
            self._active.discard(active)
        elapsed = time.monotonic() - active.started
        await self._conclude(active, outcome, elapsed)

    async def _transcode(
        self, job: Job, active: ActiveJob, on_progress: Callable[[float], None]
    ) -> TranscodeResult | HandedOn:
        if self.chunked.handles(job):
            return await self.chunked.run(job, on_progress)
        catalog = self.backends.catalog
        video = await catalog.update(
            job.video_id,
            status=VideoStatus.PROCESSING,
            progress=0.0,
            error=None,
            attempts=job.attempts,
        )
        if video is None:
            raise VideoGone(job.video_id)
        if job.attempts == 1:
            self.metrics.queue_wait.observe(max(0.0, time.time() - video.created_at))
        if self.chunked.splitting:
            handed_on = await self.chunked.plan(job)
            if handed_on is not None:
                return handed_on

        async def before_master() -> None:
            if not await self.backends.queue.heartbeat(job, self.settings.visibility_timeout):
                raise LeaseLost(job.id)

        async def on_playable(version: str) -> None:
            await self._playable(active, version)

        async def on_withdrawn() -> None:
            await self._withdrawn(job)

        pipeline = TranscodePipeline(
            self.settings,
            self.backends,
            video_id=job.video_id,
            source_key=str(job.payload.get("source_key") or keys.source_key(job.video_id)),
            scratch=self.space.job_dir(f"{job.id}-{job.attempts}"),
            on_progress=on_progress,
            before_master=before_master,
            on_playable=on_playable,
            on_withdrawn=on_withdrawn,
            space=self.space,
        )
        return await pipeline.run()

    async def _playable(self, active: ActiveJob, version: str) -> None:
        """A growing master is out: the edges forget their cached 404 of it (and warm the
        first segments), then the record says `playable`, only for this attempt."""
        job = active.job
        self._changed(job.video_id)
        if self.edges is not None:
            self.edges.published(
                keys.playback_path(job.video_id),
                f"video {job.video_id} (playable)",
                published_paths(
                    self.backends.store, job.video_id, version, self.settings.warm_segments
                ),
            )
        catalog = self.backends.catalog

        async def record() -> None:
            video = await catalog.get(job.video_id)
            if video is None or video.status is not VideoStatus.PROCESSING:
                return
            if video.attempts != job.attempts:
                return  # another attempt took over
            await catalog.update_if(
                job.video_id, VideoStatus.PROCESSING, playable_at=time.time()
            )

        await self._settle(record(), job, "record as playable")
        self._log(logging.INFO, "playable", job, time.monotonic() - active.started)

    async def _withdrawn(self, job: Job) -> None:
        """A master that was not finished was taken down: the record and the edges follow."""
        self._changed(job.video_id)
        await self._settle(
            self.backends.catalog.update(job.video_id, playable_at=None), job,
            "record as not playable",
        )  # fmt: skip
        if self.edges is not None:
            await self.edges.purge(keys.media_path_for_key(keys.video_prefix(job.video_id)))

    async def _watch(self, active: ActiveJob) -> None:
        """Heartbeat the lease every visibility_timeout/3 and look for a deletion every
        couple of seconds; abort the job when its lease is lost or its video deleted."""
        job = active.job
        timeout = self.settings.visibility_timeout
        beat_every = timeout / 3
        last_ok = last_beat = time.monotonic()
        while True:
            await asyncio.sleep(min(beat_every, DELETE_CHECK_INTERVAL))
            try:
                if await self.backends.catalog.get(job.video_id) is None:
                    active.abort(Abort.VIDEO_DELETED)
                    return
                if time.monotonic() - last_beat < beat_every - 0.05:
                    continue
                last_beat = time.monotonic()
                if not await self.backends.queue.heartbeat(job, timeout):
                    active.abort(Abort.LEASE_LOST)
                    return
                last_ok = time.monotonic()
            except QueueUnavailable as exc:
                if time.monotonic() - last_ok >= timeout:
                    log.warning("lease of job %s expired while the queue was down", job.id)
                    active.abort(Abort.LEASE_LOST)
                    return
                log.warning("heartbeat of job %s failed (will retry): %s", job.id, exc)

    # -- outcomes --------------------------------------------------------------------------

    async def _settle(self, call: Any, job: Job, what: str) -> Any:
        """Await a queue/catalogue call whose failure must not crash the worker.

        If it fails, the lease simply expires and the job runs again: at-least-once.
        """
        try:
            return await call
        except (QueueUnavailable, StoreUnavailable, OSError) as exc:
            log.warning("could not %s job %s of video %s: %s", what, job.id, job.video_id, exc)
            return None

    async def _fail(self, job: Job, reason: str) -> None:
        """Dead-letter the job, then record the reason, only if the lease was still ours.

        A part or join job fails its video only while the video is still processing (a
        late duplicate must not fail a published video), then cancels the video's other
        jobs: the video cannot be finished without this part.
        """
        if not await self._settle(self.backends.queue.fail(job, reason), job, "fail"):
            return
        changes: dict[str, Any] = {"status": VideoStatus.FAILED, "error": reason}
        if is_chunked_job(job):
            video = await self._settle(self.backends.catalog.get(job.video_id), job, "read")
            if video is None or video.status is not VideoStatus.PROCESSING:
                return
            changes["error"] = video_reason(job, reason)
        else:
            changes["attempts"] = job.attempts
        await self._settle(
            self.backends.catalog.update_and_notify(
                job.video_id, VIDEO_FAILED, self.settings.webhook_urls, **changes
            ),
            job,
            "mark failed",
        )
        if is_chunked_job(job):
            await self._settle(self.backends.queue.cancel(job.video_id), job, "cancel siblings of")
        await self._settle(self._withdraw_leftover(job), job, "withdraw the leftovers of")

    async def _withdraw_leftover(self, job: Job) -> None:
        """A growing publication left by an attempt that died (the last one allowed, so no
        attempt will clean it up) comes down with the video's objects: a failed video is
        not served as a stream that never ends."""
        store = self.backends.store
        try:
            info = await store.head(keys.master_key(job.video_id))
        except ObjectNotFound:
            return
        if not is_growing(info.cache_control):
            return  # finished: an earlier transcode stays published
        await store.delete(keys.master_key(job.video_id))
        await store.delete_prefix(keys.video_prefix(job.video_id))
        log.info("withdrew the unfinished publication of failed video %s", job.video_id)
        await self._withdrawn(job)

    async def _requeue(self, job: Job, handed_back: Any) -> bool:
        """`handed_back` is the queue call giving the job back; the record follows if it did.

        False when the queue refused (the lease was lost, or the job cancelled because its
        video was deleted): nothing is re-queued then.
        """
        if not await self._settle(handed_back, job, "hand back"):
            return False
        if is_chunked_job(job):
            return True  # the video is still processing: its other parts run on
        await self._settle(
            self.backends.catalog.update(job.video_id, status=VideoStatus.QUEUED, progress=0.0),
            job,
            "requeue",
        )
        return True

    async def _conclude(
        self,
        active: ActiveJob,
        outcome: BaseException | TranscodeResult | HandedOn,
        elapsed: float,
    ) -> None:
        job = active.job
        queue = self.backends.queue
        self.jobs_done += 1
        if isinstance(outcome, TranscodeResult):
            await self._succeeded(job, outcome, elapsed)
        elif isinstance(outcome, HandedOn):
            await self._settle(queue.complete(job), job, "complete")
            self._log(logging.INFO, "handed on", job, elapsed, outcome.detail)
        elif isinstance(outcome, asyncio.CancelledError):
            reason = active.abort_reason or Abort.SHUTDOWN
            if reason is Abort.SHUTDOWN:
                await self._requeue(job, queue.release(job))
            elif reason is Abort.VIDEO_DELETED:
                await self._settle(queue.fail(job, "the video was deleted"), job, "fail")
            self._log(logging.WARNING, "abandoned", job, elapsed, f"({reason.value})")
        elif isinstance(outcome, LeaseLost):
            self._log(logging.WARNING, "abandoned", job, elapsed, f"({Abort.LEASE_LOST.value})")
        elif isinstance(outcome, VideoGone):
            await self._settle(queue.fail(job, "the video was deleted"), job, "fail")
            self._log(logging.WARNING, "abandoned", job, elapsed, "(video deleted)")
        elif isinstance(outcome, PermanentJobError):
            await self._fail(job, outcome.reason)
            self._log(logging.WARNING, "failed", job, elapsed, outcome.reason)
        else:
            await self._retry_or_fail(job, outcome, elapsed)

    def _changed(self, video_id: str) -> None:
        for forget in self.on_changed:
            forget(video_id)

    async def _succeeded(self, job: Job, result: TranscodeResult, elapsed: float) -> None:
        self._changed(job.video_id)
        if self.edges is not None:
            # Before `ready` is recorded, so players told "ready" find the master no longer
            # cached as a 404 and the first segments warm; in the background, never failing
            # the job.
            # The version's playlists too: edges may hold their growing revisions.
            self.edges.published(
                [
                    keys.playback_path(job.video_id),
                    *(
                        keys.media_path_for_key(
                            keys.rendition_prefix(job.video_id, result.version, rendition.name)
                            + PLAYLIST_NAME
                        )
                        for rendition in result.renditions
                    ),
                ],
                f"video {job.video_id}",
                published_paths(
                    self.backends.store, job.video_id, result.version,
                    self.settings.warm_segments,
                ),
            )
        now = time.time()
        video = await self._settle(
            self.backends.catalog.update_and_notify(
                job.video_id,
                VIDEO_READY,
                self.settings.webhook_urls,
                status=VideoStatus.READY,
                progress=100.0,
                error=None,
                duration=result.duration,
                renditions=result.renditions,
                version=result.version,
                ready_at=now,
                playable_at=result.playable_at or now,
                attempts=job.attempts,
            ),
            job,
            "mark ready",
        )
        if video is None:
            # Not recorded (catalogue down, or the video deleted meanwhile): leave the job
            # leased; it runs again after the visibility timeout, or is dropped if deleted.
            self._log(logging.WARNING, "unrecorded", job, elapsed, "(catalogue not updated)")
            return
        await self._settle(self.backends.queue.complete(job), job, "complete")
        self._observe_success(result, video)
        if not self.settings.keep_source:
            source = str(job.payload.get("source_key") or keys.source_key(job.video_id))
            await self._settle(self.backends.store.delete(source), job, "delete the source of")
        timings = " ".join(f"{name}={value:.2f}s" for name, value in result.timings.items())
        self._log(
            logging.INFO,
            "succeeded",
            job,
            elapsed,
            f"version={result.version} renditions={len(result.renditions)} {timings}",
            timings=result.timings,
        )

    def _observe_success(self, result: TranscodeResult, video: Video) -> None:
        encode = result.timings.get("encode")
        if encode and result.duration > 0:
            self.metrics.ffmpeg_speed.observe(result.duration / encode)
        if video.ready_at is not None:
            self.metrics.upload_to_ready.observe(max(0.0, video.ready_at - video.created_at))

    async def _retry_or_fail(self, job: Job, exc: BaseException, elapsed: float) -> None:
        reason = describe_failure(exc)
        if isinstance(exc, FfmpegError):
            log.warning("ffmpeg failed for job %s: %s", job.id, exc.details())
        elif not isinstance(
            exc, StoreUnavailable | QueueUnavailable | TimeoutError | ScratchSpaceUnavailable
        ):
            log.error("job %s of video %s crashed", job.id, job.video_id, exc_info=exc)
        if job.is_last_attempt:
            final = f"{reason} (gave up after {job.attempts} attempts)"
            await self._fail(job, final)
            self._log(logging.WARNING, "failed", job, elapsed, final)
            return
        delay = retry_delay(
            job.attempts, self.settings.retry_base_delay, self.settings.retry_max_delay, self._rng
        )
        if await self._requeue(job, self.backends.queue.retry_later(job, delay, reason)):
            self._log(logging.WARNING, "retry", job, elapsed, f"in {delay:.1f}s: {reason}")
        else:
            self._log(logging.WARNING, "abandoned", job, elapsed, f"(lease lost; {reason})")
