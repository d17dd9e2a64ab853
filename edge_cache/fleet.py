"""Keeping edge caches in step with the origin: purge what was deleted, warm what is new.

The upload API purges a deleted video's URLs and workers warm a newly published one. Edges
are reached over HTTP (`edge_cache.client`, with the purge token) or, for the edge running
in the same process (`vodstack serve`), by direct calls. Nothing here raises into its
caller or holds it up for long: an edge that is down is logged and skipped.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from edge_cache import client
from edge_cache.proxy import EdgeProxy
from edge_cache.warm import Warmer
from vodstack.settings import Settings

log = logging.getLogger(__name__)

PURGE_WAIT = 1.0
"""Longest a purge holds up its caller; slower edges are finished in the background."""
CLOSE_WAIT = 5.0
"""Longest shutting down waits for purges and warms still running."""


@dataclass(frozen=True)
class LocalEdge:
    """An edge running in this process: purged and warmed without HTTP or a token."""

    proxy: EdgeProxy
    warmer: Warmer


class EdgeFleet:
    """The edges one service informs: `urls` over HTTP, and `local` directly."""

    def __init__(
        self,
        *,
        urls: Sequence[str] = (),
        token: str | None = None,
        local: LocalEdge | None = None,
        warm_budget: int,
        purge_wait: float = PURGE_WAIT,
        call_timeout: float = client.DEFAULT_TIMEOUT,
    ) -> None:
        if urls and not token:
            raise ValueError("calling edges over HTTP needs their purge token")
        self.urls = list(urls)
        self.token = token or ""
        self.local = local
        self.warm_budget = warm_budget
        self.purge_wait = purge_wait
        self.call_timeout = call_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, local: LocalEdge | None = None) -> EdgeFleet | None:
        """The fleet the settings describe (`edges`, `purge_token`); None when there is none."""
        if not settings.edges and local is None:
            return None
        return cls(
            urls=settings.edges,
            token=settings.purge_token,
            local=local,
            warm_budget=settings.warm_max_bytes,
        )

    @property
    def pending(self) -> int:
        """Remote calls still running."""
        return len(self._tasks)

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None] | None:
        if self._closed:
            work.close()
            log.info("not %s: shutting down", what)
            return None

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("%s failed", what)

        task = asyncio.create_task(guarded(), name=what)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _purge_local(self, prefix: str) -> None:
        if self.local is not None:
            removed = self.local.proxy.store.purge_prefix(prefix)
            self.local.proxy.stats["purged"] += removed
            log.debug("purged %d entries under %s from the local edge", removed, prefix)

    async def purge(self, prefix: str) -> None:
        """Remove every cached URL starting with `prefix` from every edge.

        The local edge is purged at once. Remote edges are waited for at most `purge_wait`
        seconds, then finished in the background; failures are logged, never raised.
        """
        self._purge_local(prefix)
        if self.urls:
            task = self._spawn(self._purge_remote(prefix), f"purging {prefix}")
            if task is not None:
                await asyncio.wait({task}, timeout=self.purge_wait)

    async def _purge_remote(self, prefix: str) -> None:
        results = await client.purge(self.urls, prefix, self.token, time_limit=self.call_timeout)
        for result in results:
            if result.ok:
                log.debug("purged %s on %s: %s", prefix, result.edge, result.detail)
            else:
                log.warning(
                    "could not purge %s on edge %s (its copies expire by themselves): %s",
                    prefix, result.edge, result.detail,
                )

    def published(
        self, changed: str | Sequence[str], what: str, paths: Awaitable[Sequence[str]]
    ) -> None:
        """Something was (re)published: the URLs under `changed` (a video's master playlist,
        which edges may hold as a 404 from before, and playlists that were still growing a
        moment ago) are forgotten, then `paths` are warmed.

        The local edge forgets at once; the rest runs in the background: remote purges,
        then awaiting `paths` and having each edge fetch them into its cache. The paths are
        taken as they are (playlists are not expanded): each one goes to the remote edge
        that owns it (rendezvous hashing) and to the local edge.
        """
        if self._closed:
            if inspect.iscoroutine(paths):
                paths.close()
            log.info("not warming %s: shutting down", what)
            return
        prefixes = [changed] if isinstance(changed, str) else list(changed)
        for prefix in prefixes:
            self._purge_local(prefix)
        self._spawn(self._publish(prefixes, what, paths), f"warming {what}")

    async def _publish(
        self, changed: list[str], what: str, paths_source: Awaitable[Sequence[str]]
    ) -> None:
        if self.urls:
            for prefix in changed:
                await self._purge_remote(prefix)
        await self._warm(what, paths_source)

    async def _warm(self, what: str, paths_source: Awaitable[Sequence[str]]) -> None:
        paths = list(await paths_source)
        if not paths:
            return
        if self.local is not None:
            self.local.warmer.submit(paths, budget=self.warm_budget, segments=0, expand=False)
        if self.urls:
            results = await client.warm(
                self.urls, paths, self.warm_budget, self.token,
                segments=0, expand=False, time_limit=self.call_timeout,
            )
            for result in results:
                if not result.ok:
                    log.warning(
                        "could not warm %s on edge %s: %s", what, result.edge, result.detail
                    )

    async def close(self, grace: float = CLOSE_WAIT) -> None:
        """Stop taking work; give running calls `grace` seconds, then cancel them."""
        self._closed = True
        tasks = list(self._tasks)
        if not tasks:
            return
        _done, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


EDGE_FLEET: web.AppKey[EdgeFleet] = web.AppKey("edge_fleet", EdgeFleet)


def attach_edge_fleet(app: web.Application, fleet: EdgeFleet | None) -> None:
    """Make `fleet` the app's (`app.get(EDGE_FLEET)`), closed when the app stops.

    Attach it before the parts that use it (routes, worker): cleanup runs in reverse, so it
    closes after them.
    """
    if fleet is None:
        return
    app[EDGE_FLEET] = fleet

    async def fleet_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await fleet.close()

    app.cleanup_ctx.append(fleet_ctx)
