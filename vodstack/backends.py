"""The backends one service uses (store, queue, catalogue), opened and closed together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from vodstack.catalog import Catalog, open_catalog
from vodstack.errors import QueueUnavailable, StoreUnavailable
from vodstack.metrics.store import StoreMetrics
from vodstack.queue import JobQueue, open_queue
from vodstack.settings import Settings
from vodstack.store import ObjectStore, open_store
from vodstack.store.metered import MeteredStore

CHECK_TIMEOUT = 3.0


class _Checkable(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def check(self) -> None: ...


@dataclass
class Backends:
    """Each service opens only what it needs: the origin has no queue, for instance."""

    store_: ObjectStore | None = None
    queue_: JobQueue | None = None
    catalog_: Catalog | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, store: bool = True, queue: bool = True, catalog: bool = True
    ) -> Backends:
        return cls(
            store_=open_store(settings) if store else None,
            queue_=open_queue(settings) if queue else None,
            catalog_=open_catalog(settings) if catalog else None,
        )

    def instrument(self, metrics: StoreMetrics) -> None:
        """Record every store call in `metrics` (by wrapping the store; done once)."""
        if self.store_ is not None and not isinstance(self.store_, MeteredStore):
            self.store_ = MeteredStore(self.store_, metrics)

    @property
    def store(self) -> ObjectStore:
        if self.store_ is None:
            raise RuntimeError("this service has no object store")
        return self.store_

    @property
    def queue(self) -> JobQueue:
        if self.queue_ is None:
            raise RuntimeError("this service has no job queue")
        return self.queue_

    @property
    def catalog(self) -> Catalog:
        if self.catalog_ is None:
            raise RuntimeError("this service has no catalogue")
        return self.catalog_

    def _named(self) -> list[tuple[str, _Checkable]]:
        named: list[tuple[str, Any]] = [
            ("store", self.store_),
            ("queue", self.queue_),
            ("catalog", self.catalog_),
        ]
        return [(name, backend) for name, backend in named if backend is not None]

    async def start(self) -> None:
        started: list[_Checkable] = []
        try:
            for _name, backend in self._named():
                await backend.start()
                started.append(backend)
        except BaseException:
            for backend in reversed(started):
                await backend.close()
            raise

    async def close(self) -> None:
        for _name, backend in reversed(self._named()):
            await backend.close()

    async def problems(self) -> list[str]:
        """What is unreachable right now (empty when everything answers)."""

        async def check(name: str, backend: _Checkable) -> str | None:
            try:
                await asyncio.wait_for(backend.check(), CHECK_TIMEOUT)
            except TimeoutError:
                return f"{name}: no answer within {CHECK_TIMEOUT:g}s"
            except (StoreUnavailable, QueueUnavailable, OSError) as exc:
                return f"{name}: {exc}"
            return None

        results = await asyncio.gather(*(check(n, b) for n, b in self._named()))
        return [problem for problem in results if problem]
