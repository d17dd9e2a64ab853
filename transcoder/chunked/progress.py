"""Progress of a chunked video in the catalogue, written by whichever worker moves it.

A part's own percent goes to the ledger, which answers with every part's; the video's
progress is their weighted sum (`ChunkPlan.progress`) scaled to the encoding share (95 %),
as for a single job. Several workers write it, so a write never lowers the recorded value
(a part that starts over does not drag the bar back) and happens only while the video is
`processing`. At most one write per second per job, never blocking the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from transcoder.chunked.ledger import PartLedger, PartsState
from transcoder.chunked.plan import ChunkPlan
from transcoder.pipeline import ENCODE_SHARE
from transcoder.progress import MIN_INTERVAL, Throttle
from vodstack.catalog import Catalog, VideoStatus
from vodstack.errors import QueueUnavailable

log = logging.getLogger(__name__)


def video_percent(plan: ChunkPlan, state: PartsState) -> float:
    return ENCODE_SHARE * plan.progress(state.progress) / 100


async def raise_progress(catalog: Catalog, video_id: str, percent: float) -> None:
    """Record `percent` if the video is processing and not already further along."""
    video = await catalog.get(video_id)
    if video is None or video.status is not VideoStatus.PROCESSING:
        return
    if percent > video.progress:
        await catalog.update(video_id, progress=round(percent, 1))


class PartProgress:
    """The worker's progress callback for a part (or, with `part=None`, a join)."""

    def __init__(
        self,
        catalog: Catalog,
        ledger: Callable[[], Awaitable[PartLedger]],
        plan: ChunkPlan,
        video_id: str,
        part: str | None,
        interval: float = MIN_INTERVAL,
    ) -> None:
        self._catalog = catalog
        self._ledger = ledger
        self._plan = plan
        self._video_id = video_id
        self._part = part
        self._throttle = Throttle(interval)
        self._pending: asyncio.Task[None] | None = None

    def __call__(self, percent: float) -> None:
        if self._pending is not None and not self._pending.done():
            return
        if not self._throttle.ready():
            return
        self._pending = asyncio.get_running_loop().create_task(self._write(percent))

    async def _write(self, percent: float) -> None:
        try:
            if self._part is None:
                total = percent
            else:
                ledger = await self._ledger()
                state = await ledger.report(
                    self._video_id, self._plan.version, self._part, round(percent, 1)
                )
                total = video_percent(self._plan, state)
            await raise_progress(self._catalog, self._video_id, total)
        except QueueUnavailable as exc:
            log.debug("progress of %s not saved: %s", self._video_id, exc)

    async def close(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
