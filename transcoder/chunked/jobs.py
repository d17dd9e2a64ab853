"""Job kinds and payloads of chunked transcoding (pure).

A job's payload says what it is in `kind`: absent or `transcode` for an upload's own job
(which may become a plan), `part` for one part of a chunked video, `join` for putting the
parts together. Part and join payloads carry the whole plan, so any worker can run them
whatever its own settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from transcoder.chunked.plan import AUDIO_PART, ChunkPlan
from transcoder.errors import PermanentJobError
from vodstack.queue import Job

KIND_FIELD = "kind"
PLAN_FIELD = "plan"
PART_FIELD = "part"
_CARRIED = ("video_id", "source_key", "request_id")
"""Fields of the upload's job that its part and join jobs carry on."""


class JobKind(StrEnum):
    TRANSCODE = "transcode"
    PART = "part"
    JOIN = "join"


def job_kind(job: Job) -> JobKind:
    value = job.payload.get(KIND_FIELD) or JobKind.TRANSCODE
    try:
        return JobKind(value)
    except ValueError:
        raise PermanentJobError(
            f"the job is of a kind this worker does not know ({value!r}); "
            "is an older worker running?"
        ) from None


def is_chunked_job(job: Job) -> bool:
    """A part or join job (the video's record is not theirs alone to reset)."""
    return job.payload.get(KIND_FIELD) in {JobKind.PART, JobKind.JOIN}


def part_payload(job: Job, plan: ChunkPlan, part: str) -> dict[str, Any]:
    carried = {name: job.payload[name] for name in _CARRIED if name in job.payload}
    return {
        **carried,
        KIND_FIELD: str(JobKind.PART),
        PART_FIELD: part,
        PLAN_FIELD: plan.to_dict(),
    }


def join_payload(job: Job, plan: ChunkPlan) -> dict[str, Any]:
    carried = {name: job.payload[name] for name in _CARRIED if name in job.payload}
    return {**carried, KIND_FIELD: str(JobKind.JOIN), PLAN_FIELD: plan.to_dict()}


def plan_of(job: Job) -> ChunkPlan:
    try:
        return ChunkPlan.from_dict(job.payload[PLAN_FIELD])
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentJobError(f"the job's chunk plan is unreadable ({exc})") from None


def part_of(job: Job) -> str:
    part = job.payload.get(PART_FIELD)
    if not isinstance(part, str):
        raise PermanentJobError("the part job does not say which part it is")
    return part


def describe_part(plan: ChunkPlan, part: str) -> str:
    """`chunk 2 of 3 (0:08-0:16)`, or `the audio`."""
    if part == AUDIO_PART:
        return "the audio"
    chunk = plan.chunk(part)
    start = float(chunk.start(plan.frame_rate))
    end_time = chunk.end(plan.frame_rate)
    end = plan.duration if end_time is None else float(end_time)
    return (
        f"chunk {chunk.index + 1} of {len(plan.chunks)} "
        f"({clock(start)}-{clock(end)})"
    )


def clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe_job(job: Job) -> str:
    """What a part or join job does, for log lines ("" for other jobs)."""
    if not is_chunked_job(job):
        return ""
    try:
        plan = plan_of(job)
        if job_kind(job) is JobKind.JOIN:
            return f"(joining {len(plan.parts)} parts as {plan.version})"
        return f"({describe_part(plan, part_of(job))} of {plan.version})"
    except (PermanentJobError, KeyError):
        return "(unreadable chunk job)"


def video_reason(job: Job, reason: str) -> str:
    """The reason a video failed, saying which part of a chunked transcode failed."""
    try:
        kind = job_kind(job)
        if kind is JobKind.PART:
            return f"{describe_part(plan_of(job), part_of(job))}: {reason}"
        if kind is JobKind.JOIN:
            return f"joining the chunks: {reason}"
    except (PermanentJobError, KeyError):
        pass
    return reason


@dataclass(frozen=True)
class HandedOn:
    """How a plan, part or join job ended when it published nothing itself: the plan
    queued its parts, a part is stored, or there was nothing left to do."""

    detail: str
