"""The registry of one application, its scrape-time collectors and `GET /metrics`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from aiohttp import web
from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from vodstack import __version__
from vodstack.metrics.disk import DiskCollector
from vodstack.metrics.jobs import QueueDepthCollector
from vodstack.metrics.merge import merge_families
from vodstack.queue import JobQueue

log = logging.getLogger(__name__)

# `_created` timestamps double the series for nothing Prometheus uses in the text format.
disable_created_metrics()

G = TypeVar("G")


class AsyncCollector(Protocol):
    """A collector whose values come from I/O (a queue, the disk): `refresh()` runs before
    each scrape, bounded in time by the collector itself; `collect()` reports what it got."""

    async def refresh(self) -> None: ...

    def collect(self) -> Iterable[Metric]: ...


class Metrics:
    """A `CollectorRegistry` with the process collectors, plus the groups registered on it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        if GC_COLLECTOR is not None:
            GCCollector(registry=self.registry)
        Info("vodstack_build", "The running vodstack version.", registry=self.registry).info(
            {"version": __version__}
        )
        self._groups: dict[Callable[..., Any], Any] = {}
        self._refreshing: list[AsyncCollector] = []
        self._disk: DiskCollector | None = None
        self._queue: QueueDepthCollector | None = None
        self.peers: Callable[[], Awaitable[list[Any]]] | None = None
        """Set in a server of several processes: the other processes' `collected()`
        families, added to this one's in `render` (see `vodstack.metrics.merge`)."""

    def group(self, factory: Callable[[CollectorRegistry], G]) -> G:
        """The group made by `factory(registry)`, made on first use and shared after."""
        existing = self._groups.get(factory)
        if existing is None:
            existing = self._groups[factory] = factory(self.registry)
        return existing

    def add_collector(self, collector: AsyncCollector) -> None:
        """Register a scrape-time collector (its names must be new to this registry)."""
        self.registry.register(collector)
        self._refreshing.append(collector)

    @property
    def disk(self) -> DiskCollector:
        """Free-space gauges; `metrics.disk.watch(volume, path)` adds a directory."""
        if self._disk is None:
            self._disk = DiskCollector()
            self.add_collector(self._disk)
        return self._disk

    def watch_queue(self, queue: JobQueue) -> None:
        """Report `queue`'s depth at each scrape (one queue per registry)."""
        if self._queue is None:
            self._queue = QueueDepthCollector(queue)
            self.add_collector(self._queue)
        self._queue.queue = queue

    async def collected(self) -> list[Metric]:
        """Every metric of this process, after refreshing scrape-time collectors."""
        results = await asyncio.gather(
            *(collector.refresh() for collector in self._refreshing), return_exceptions=True
        )
        for collector, result in zip(self._refreshing, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("metrics collector %s failed: %r", type(collector).__name__, result)
        # Collected on the loop: a consistent view of numbers the loop updates.
        return list(self.registry.collect())

    async def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """(body, content type) of every metric in the format `accept` asks for (Prometheus
        text 0.0.4 by default, OpenMetrics on request), after refreshing scrape-time
        collectors; with `peers`, the other processes' added in."""
        mine = await self.collected()
        if self.peers is not None:
            others = [part for part in await self.peers() if isinstance(part, list)]
            if others:
                mine = merge_families([mine, *others])
        # Written out in a thread: formatting a few thousand lines takes milliseconds.
        families = _Collected(mine)
        encode, content_type = choose_encoder(accept or "")
        return await asyncio.to_thread(encode, families), content_type


class _Collected:
    """Metric families already collected, for an encoder that asks for `collect()`."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus exposition, in the format the scraper accepts."""
    body, content_type = await request.app[METRICS].render(request.headers.get("Accept"))
    return web.Response(
        body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"}
    )
