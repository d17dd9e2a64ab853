"""Progress written to the catalogue while a job runs, at most about once a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from vodstack.catalog import Catalog, VideoStatus
from vodstack.errors import QueueUnavailable

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0


class Throttle:
    """`ready()` is true at most once per `interval` seconds (pure, injectable clock)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True


class ProgressReporter:
    """Called with a percentage (from ffmpeg's progress); writes some of them, never blocks.

    Writes only while the record is `processing` by this attempt (its `attempts` matches).

    One write is in flight at most; values arriving meanwhile are dropped (the next one
    after the interval carries the news). `close()` waits for the last write, so a final
    status written afterwards is never overtaken by a stale progress value.
    """

    def __init__(
        self, catalog: Catalog, video_id: str, attempt: int, interval: float = MIN_INTERVAL
    ) -> None:
        self._catalog = catalog
        self._video_id = video_id
        self._attempt = attempt
        self._throttle = Throttle(interval)
        self._pending: asyncio.Task[None] | None = None
        self.last_percent = 0.0

    def __call__(self, percent: float) -> None:
        if self._pending is not None and not self._pending.done():
            return
        if not self._throttle.ready():
            return
        self.last_percent = percent
        self._pending = asyncio.get_running_loop().create_task(self._write(round(percent, 1)))

    async def _write(self, percent: float) -> None:
        try:
            # A worker that lost its lease without noticing yet must not overwrite the
            # progress (or a finished status) of the attempt that took over.
            video = await self._catalog.get(self._video_id)
            if video is None or video.status is not VideoStatus.PROCESSING:
                return
            if video.attempts != self._attempt:
                return
            await self._catalog.update(self._video_id, progress=percent)
        except QueueUnavailable as exc:
            log.debug("progress of %s not saved: %s", self._video_id, exc)

    async def close(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
