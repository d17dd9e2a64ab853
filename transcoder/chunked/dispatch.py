"""What the worker calls for chunked transcoding: plan an upload's job, run a part or a join,
and the progress callback of those jobs.

The worker leases, heartbeats, retries, fails and cancels part and join jobs like any
other; only what a job does, and how the video's record follows it, differs by kind.
"""

from __future__ import annotations

from collections.abc import Callable

from transcoder.chunked.jobs import (
    KIND_FIELD,
    HandedOn,
    JobKind,
    is_chunked_job,
    job_kind,
    part_of,
    plan_of,
)
from transcoder.chunked.joiner import Joiner
from transcoder.chunked.ledger import LazyLedger
from transcoder.chunked.part import PartRunner
from transcoder.chunked.planner import Planner
from transcoder.chunked.progress import PartProgress
from transcoder.errors import LeaseLost, PermanentJobError
from transcoder.pipeline import TranscodeResult
from transcoder.scratch import ScratchSpace
from vodstack.backends import Backends
from vodstack.queue import Job
from vodstack.settings import Settings

__all__ = ["ChunkedJobs", "HandedOn"]


class ChunkedJobs:
    def __init__(self, settings: Settings, backends: Backends, space: ScratchSpace) -> None:
        self.settings = settings
        self.backends = backends
        self.ledger = LazyLedger(settings)
        self.planner = Planner(settings, backends, space)
        self.parts = PartRunner(settings, backends, space, self.ledger)
        self.joiner = Joiner(settings, backends, self.ledger)

    @property
    def splitting(self) -> bool:
        """Whether this worker splits long uploads (it runs others' parts regardless)."""
        return self.settings.chunk_duration > 0

    @staticmethod
    def handles(job: Job) -> bool:
        """A job that is not an upload's own transcode (a part, a join, or unknown)."""
        return job.payload.get(KIND_FIELD) not in (None, str(JobKind.TRANSCODE))

    async def plan(self, job: Job) -> HandedOn | None:
        """Split the upload into part jobs, or None to transcode it whole."""
        return await self.planner.plan(job)

    async def run(
        self, job: Job, on_progress: Callable[[float], None]
    ) -> HandedOn | TranscodeResult:
        kind = job_kind(job)
        if kind is JobKind.PART:
            return await self.parts.run(job, on_progress)
        if kind is JobKind.JOIN:

            async def before_master() -> None:
                if not await self.backends.queue.heartbeat(
                    job, self.settings.visibility_timeout
                ):
                    raise LeaseLost(job.id)

            return await self.joiner.run(job, before_master)
        raise PermanentJobError(f"a {kind} job is not a chunked transcode job")

    def reporter(self, job: Job) -> PartProgress | None:
        """The progress callback of a part or join job (None for other jobs)."""
        if not is_chunked_job(job):
            return None
        try:
            plan = plan_of(job)
            part = part_of(job) if job_kind(job) is JobKind.PART else None
        except PermanentJobError:
            return None  # the job itself fails with the reason
        return PartProgress(self.backends.catalog, self.ledger, plan, job.video_id, part)

    async def close(self) -> None:
        await self.ledger.close()
