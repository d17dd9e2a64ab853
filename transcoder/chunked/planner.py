"""The plan: an upload's own job decides whether to split the video, and queues its parts.

Runs inside the upload's ordinary job, after the video is marked `processing`. It probes
the upload as the single-job pipeline would (same limits, same permanent errors); a video
shorter than two chunks is left to that pipeline. Otherwise it queues one job per part and
ends: the video stays `processing` until the join marks it ready.

The output version comes from the job id and the plan (`version_for`), so the plan job
running again (its worker died after queueing) queues the same parts under the same
version: parts already done skip their work, and only one join job joins.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil

from transcoder.chunked.jobs import HandedOn, part_payload
from transcoder.chunked.plan import plan_chunks, version_for
from transcoder.chunked.source import local_source
from transcoder.ffmpeg_args import EncodeOptions
from transcoder.ladder import ladder_for
from transcoder.probe import probe
from transcoder.scratch import ScratchSpace
from vodstack import keys
from vodstack.backends import Backends
from vodstack.queue import Job
from vodstack.settings import Settings


class Planner:
    def __init__(self, settings: Settings, backends: Backends, space: ScratchSpace) -> None:
        self.settings = settings
        self.backends = backends
        self.space = space

    async def plan(self, job: Job) -> HandedOn | None:
        """Queue the video's parts, or None when it is to be transcoded whole."""
        settings = self.settings
        scratch = self.space.job_dir(f"{job.id}-{job.attempts}-plan")
        await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
        try:
            source_key = str(job.payload.get("source_key") or keys.source_key(job.video_id))
            source = await local_source(
                self.backends, job.video_id, source_key, scratch, self.space
            )
            info = await probe(
                source,
                ffprobe=settings.ffprobe_path,
                max_dimension=settings.max_video_dimension,
                max_duration=settings.max_duration,
                nice=settings.ffmpeg_nice,
            )
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, scratch, True))
        rungs = ladder_for(info, top_rung=settings.top_rung)
        options = EncodeOptions.from_settings(settings)
        plan = plan_chunks(info, rungs, options, settings.chunk_duration)
        if plan is None:
            return None
        plan = dataclasses.replace(plan, version=version_for(job.id, plan))
        for part in plan.parts:
            await self.backends.queue.enqueue(
                job.video_id, part_payload(job, plan, part), max_attempts=job.max_attempts
            )
        audio = " and the audio" if plan.audio_renditions else ""
        return HandedOn(
            f"split into {len(plan.chunks)} chunks of {plan.chunk_duration:g}s{audio} "
            f"(version {plan.version}, {len(plan.parts)} part jobs queued)"
        )
