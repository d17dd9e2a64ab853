"""Run a load test: resolve the videos, start the players, wait, build the report."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from vodstack import __version__
from vodstack.loadtest.clock import Deadline
from vodstack.loadtest.config import LoadTestConfig
from vodstack.loadtest.fetch import Fetcher
from vodstack.loadtest.player import Player
from vodstack.loadtest.records import Recorder
from vodstack.loadtest.report import build_report
from vodstack.loadtest.targets import resolve_targets

PROGRESS_INTERVAL = 5.0
ProgressCallback = Callable[[float, Recorder], None]


def client_session(config: LoadTestConfig) -> aiohttp.ClientSession:
    """One pool for every player: each has at most one request in flight, so the pool
    never makes a request wait for a connection."""
    connector = aiohttp.TCPConnector(limit=config.players + 4, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=config.request_timeout, sock_read=config.request_timeout
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": f"vodstack-loadtest/{__version__}"},
    )


async def _report_progress(
    deadline: Deadline, started: float, recorder: Recorder, on_progress: ProgressCallback
) -> None:
    while not deadline.passed:
        await deadline.sleep_until(deadline.now() + PROGRESS_INTERVAL)
        on_progress(deadline.now() - started, recorder)


async def run_loadtest(
    config: LoadTestConfig,
    *,
    deadline: Deadline | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Play for `config.duration` seconds and return the report (see `report.py`).

    Pass a `deadline` to be able to stop the test early (`deadline.stop()`); its time is
    reset when the players start. Raises TargetError when there is nothing to play.
    """
    config.validate()
    rng = random.Random(config.seed)
    recorder = Recorder()
    async with client_session(config) as http:
        masters = await resolve_targets(
            http, config.targets, config.max_videos, config.api_key
        )
        started = time.monotonic()
        cpu_started = time.process_time()
        if deadline is None:
            deadline = Deadline(started + config.duration)
        else:
            deadline.at = min(deadline.at, started + config.duration)
        fetcher = Fetcher(http, recorder, deadline, timeout=config.request_timeout)
        players = [
            Player(i, fetcher, recorder, config, masters, deadline, random.Random(rng.random()))
            for i in range(config.players)
        ]

        async def start(player: Player) -> None:
            await deadline.sleep_until(started + config.ramp * player.index / config.players)
            if not deadline.passed:
                await player.run()

        progress = (
            asyncio.create_task(_report_progress(deadline, started, recorder, on_progress))
            if on_progress is not None
            else None
        )
        try:
            await asyncio.gather(*(start(player) for player in players))
        finally:
            if progress is not None:
                progress.cancel()
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu_started
    return build_report(
        config, recorder, elapsed=elapsed, masters=masters, client_cpu_seconds=cpu
    )
