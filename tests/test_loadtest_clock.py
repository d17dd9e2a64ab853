"""The load test's deadline: sleeps that end with it end at it, never before it."""

from __future__ import annotations

import asyncio
import time

import uvloop

from vodstack.loadtest.clock import Deadline


async def _sleeps_to_the_deadline(count: int) -> int:
    """How many of `count` sleeps "until the deadline" came back with it not yet passed."""
    early = 0
    for n in range(count):
        deadline = Deadline(Deadline.now() + 0.01 + (n % 10) * 0.00037)  # not whole ms
        await deadline.sleep_until(deadline.at + 5)
        early += not deadline.passed
    return early


def test_a_sleep_until_the_deadline_ends_with_it_passed_on_uvloop() -> None:
    """uvloop's timers count whole milliseconds and fire up to one early; before the fix a
    third of these sleeps came back early and a player started one session too many."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(_sleeps_to_the_deadline(100)) == 0


def test_a_sleep_until_the_deadline_ends_with_it_passed_on_asyncio() -> None:
    assert asyncio.run(_sleeps_to_the_deadline(20)) == 0


async def test_stop_ends_a_long_sleep_at_once() -> None:
    deadline = Deadline(Deadline.now() + 60)
    started = time.monotonic()
    asyncio.get_running_loop().call_later(0.05, deadline.stop)
    await deadline.sleep_until(deadline.at)
    assert deadline.passed and time.monotonic() - started < 5
