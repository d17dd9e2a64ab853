"""The test's deadline, which Ctrl-C can bring forward, and sleeps that end with it."""

from __future__ import annotations

import asyncio
import contextlib
import time

SHORT_SLEEP = 0.5
"""Sleeps shorter than this (pauses between body reads) are plain sleeps: cheaper, and a
stop waits for them at most this long."""


class Deadline:
    """Players start no request after `at`; `stop()` ends every sleep at once."""

    def __init__(self, at: float) -> None:
        self.at = at
        self._stopped = asyncio.Event()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    @property
    def passed(self) -> bool:
        return self._stopped.is_set() or self.now() >= self.at

    def stop(self) -> None:
        self.at = min(self.at, self.now())
        self._stopped.set()

    async def sleep_until(self, moment: float) -> None:
        """Sleep until `moment`, or until the deadline if that comes first."""
        delay = min(moment, self.at) - self.now()
        if delay <= 0 or self._stopped.is_set():
            return
        if delay < SHORT_SLEEP:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), delay)
