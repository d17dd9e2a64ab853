"""The job-queue contract: at-least-once delivery with leases, attempts and fencing.

A worker leases a job for a visibility timeout and renews the lease (heartbeat) while it
works. Each lease carries a fresh token; heartbeat/complete/fail/release succeed only for
the current token, so a worker whose lease expired and was taken over cannot finish the
job a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Job:
    id: str
    video_id: str
    attempts: int
    """Leases so far, this one included."""
    max_attempts: int
    lease_token: str
    payload: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None

    @property
    def is_last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


class JobQueue(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def check(self) -> None:
        """Raise QueueUnavailable unless the backend answers (for /readyz)."""

    async def enqueue(
        self, video_id: str, payload: dict[str, Any], *, max_attempts: int
    ) -> str:
        """Queue a transcode of `video_id`; returns the job id."""

    async def lease(self, worker_id: str, visibility_timeout: float, wait: float) -> Job | None:
        """Take the next runnable job (waiting up to `wait` seconds), or None."""

    async def heartbeat(self, job: Job, visibility_timeout: float) -> bool:
        """Extend the lease; False if the lease is lost (expired and re-leased, or cancelled)."""

    async def complete(self, job: Job) -> bool:
        """Mark done; False (and no effect) if this lease is no longer current."""

    async def retry_later(self, job: Job, delay: float, reason: str) -> bool:
        """Give the job back to be leased again after `delay` seconds."""

    async def fail(self, job: Job, reason: str) -> bool:
        """Fail for good (dead letter) with a reason."""

    async def release(self, job: Job) -> bool:
        """Hand the job back at once without counting this attempt (graceful shutdown)."""

    async def cancel(self, video_id: str) -> int:
        """Cancel queued or running jobs of a video; returns how many were cancelled."""

    async def depth(self) -> int:
        """Jobs waiting to run (queued or scheduled for a retry)."""
