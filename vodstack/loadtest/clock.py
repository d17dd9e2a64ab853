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
        """Sleep until `moment`, or until the deadline if that comes first.

        Never returns early: uvloop's timers count whole milliseconds and can fire up to
        one before the time asked for, and a player woken at "the deadline" that finds it
        not yet passed would start one more session."""
        while not self._stopped.is_set():
            delay = min(moment, self.at) - self.now()
            if delay <= 0:
                return
            if delay < SHORT_SLEEP:
                await asyncio.sleep(delay)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
