"""Warming: fetching paths (or a master playlist's renditions and first segments) into the
cache in the background, within a byte budget and a concurrency cap."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge_cache.playlists import warm_targets
from edge_cache.store import Entry

log = logging.getLogger(__name__)

Fill = Callable[[str], Awaitable[Entry | None]]


@dataclass
class WarmJob:
    paths: list[str]
    budget: int
    segments: int
    """For playlists: how many media segments of each rendition to warm."""
    expand: bool = True
    """Follow playlists to what they list; off when the caller lists every path itself."""
    fetched_bytes: int = 0
    stored: int = 0
    failed: int = 0


class Warmer:
    """Runs warm jobs; at most `concurrency` fetches at once across all jobs."""

    def __init__(self, fill: Fill, *, concurrency: int, max_bytes: int) -> None:
        self._fill = fill
        self._limit = asyncio.Semaphore(concurrency)
        self.max_bytes = max_bytes
        self._tasks: set[asyncio.Task[WarmJob]] = set()
        self._closed = False

    @property
    def running(self) -> int:
        """Warm jobs not finished yet."""
        return len(self._tasks)

    def submit(
        self, paths: list[str], *, budget: int | None, segments: int, expand: bool = True
    ) -> WarmJob:
        """Start warming in the background (nothing happens once the warmer is closed)."""
        budget = self.max_bytes if budget is None else min(budget, self.max_bytes)
        job = WarmJob(
            paths=list(dict.fromkeys(paths)), budget=budget, segments=segments, expand=expand
        )
        if self._closed:
            log.info("not warming %d paths: the edge is shutting down", len(job.paths))
            return job
        task = asyncio.create_task(self.run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def run(self, job: WarmJob) -> WarmJob:
        queue = list(job.paths)
        seen = set(queue)
        while queue and job.fetched_bytes < job.budget:
            batch, queue = queue[: 4 * 8], queue[4 * 8:]
            results = await asyncio.gather(*(self._one(job, path) for path in batch))
            for path, entry in zip(batch, results, strict=True):
                if not job.expand or entry is None or not path.split("?", 1)[0].endswith(".m3u8"):
                    continue
                text = entry.body.decode("utf-8", "replace")
                for target in warm_targets(path, text, job.segments):
                    if target not in seen:
                        seen.add(target)
                        queue.append(target)
        log.info(
            "warmed %d objects (%d bytes, %d failed) from %d paths",
            job.stored, job.fetched_bytes, job.failed, len(job.paths),
        )
        return job

    async def _one(self, job: WarmJob, path: str) -> Entry | None:
        async with self._limit:
            if job.fetched_bytes >= job.budget:
                return None
            entry = await self._fill(path)
        if entry is None:
            job.failed += 1
            return None
        job.stored += 1
        job.fetched_bytes += len(entry.body)
        return entry

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
