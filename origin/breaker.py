"""A circuit breaker around the origin's object source.

When the store stops answering, every request would otherwise wait the full
`store_timeout` before its 503, holding a connection and a file descriptor meanwhile;
under load that piles up into an outage of the origin itself. After
`store_breaker_threshold` consecutive failures the breaker opens: requests are answered
503 at once, with `Retry-After` set to the time left until the next probe. After
`store_breaker_cooldown` one request goes through as a probe (the others still get 503 at
once); when the store answers it, the breaker closes and everything is served again, with
no restart. The state machine is `edge_cache.breaker.Breaker`, the one the edge uses for
its upstreams.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from edge_cache.breaker import Breaker, State
from origin.body import Body
from origin.source import ObjectChanged, ObjectSource
from vodstack.errors import StoreUnavailable
from vodstack.store import ObjectInfo, ObjectStream

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreCircuitOpen(StoreUnavailable):
    """Refused without asking the store: it failed repeatedly and is not due a probe yet."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the store failed repeatedly; next probe in {retry_after:.1f}s")
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class BreakerSource:
    """An ObjectSource that stops calling a failing store for a while."""

    def __init__(
        self,
        inner: ObjectSource,
        *,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.breaker = Breaker(threshold, cooldown)
        self._clock = clock

    @property
    def state(self) -> State:
        return self.breaker.state

    async def resolve(self, key: str) -> ObjectInfo | None:
        return await self.guarded(lambda: self.inner.resolve(key))

    async def open(self, info: ObjectInfo, start: int, length: int) -> Body:
        return await self.guarded(lambda: self.inner.open(info, start, length))

    async def fetch(self, key: str) -> tuple[ObjectInfo, ObjectStream] | None:
        return await self.guarded(lambda: self.inner.fetch(key))

    async def guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one store call through the breaker (any call: the origin's caches read the
        local store directly and still count its failures here)."""
        breaker = self.breaker
        now = self._clock()
        if not breaker.acquire(now):
            raise StoreCircuitOpen(breaker.retry_after(now) or breaker.cooldown)
        probing = breaker.state is State.HALF_OPEN
        try:
            result = await call()
        except ObjectChanged:
            self._succeeded(probing)
            raise
        except StoreUnavailable:
            was = breaker.state
            breaker.failure(self._clock())
            if breaker.state is State.OPEN and was is not State.OPEN:
                log.warning(
                    "object store failing: answering 503 at once for %.0fs, then probing",
                    breaker.cooldown,
                )
            raise
        except BaseException:
            breaker.release()  # no verdict (the client went away): let another probe
            raise
        self._succeeded(probing)
        return result

    def _succeeded(self, probing: bool) -> None:
        if probing:
            log.warning("object store answers again: serving from it")
        self.breaker.success()
