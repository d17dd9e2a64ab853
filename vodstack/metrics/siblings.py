"""The metrics of the other processes of a server run by `vodstack.multiprocess`.

Each process serves its collected families on a unix socket of its own in the directory
the processes share (`Worker.runtime_dir`, mode 0700: only this server's processes reach
it, so the families go pickled, as between the processes of an edge). The process that
answers a scrape asks every other one at once and adds their families to its own
(`Metrics.peers`, merged by `vodstack.metrics.merge`), so `/metrics` counts the whole
server whichever process the kernel handed the scrape to.

A process that does not answer within `ASK_TIMEOUT` (being replaced after a crash, stuck,
or stopping) is left out of that scrape rather than failing it. The gauge
`vodstack_server_processes` (1 in each process, added up) says how many processes a
scrape covers, so a scraper can tell a missing process from a drop in traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from vodstack.metrics.registry import METRICS, Metrics
from vodstack.multiprocess import Worker

log = logging.getLogger(__name__)

ASK_TIMEOUT = 2.0
"""Longest wait for one other process's families (they are asked at the same time)."""
PROCESSES_METRIC = "vodstack_server_processes"


def socket_path(runtime_dir: Path, index: int) -> Path:
    return runtime_dir / f"metrics-{index}.sock"


class _OneProcess:
    """`vodstack_server_processes` = 1: added up over the processes a scrape covers."""

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            PROCESSES_METRIC,
            "Processes of this server whose metrics this scrape adds up.",
            value=1,
        )


class SiblingMetrics:
    """Process `index` of `count`: serves its metrics to the others and gathers theirs."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        index: int,
        count: int,
        runtime_dir: Path,
        timeout: float = ASK_TIMEOUT,
    ) -> None:
        self.metrics = metrics
        self.index = index
        self.count = count
        self.runtime_dir = runtime_dir
        self.timeout = timeout
        self._server: asyncio.AbstractServer | None = None
        metrics.registry.register(_OneProcess())
        metrics.peers = self.gather

    async def start(self) -> None:
        """Listen on this process's socket (a predecessor's, left by a crash, replaced)."""
        path = socket_path(self.runtime_dir, self.index)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._server = await asyncio.start_unix_server(self._answer, path=str(path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(OSError):
                socket_path(self.runtime_dir, self.index).unlink()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            families = await self.metrics.collected()
            writer.write(pickle.dumps(families, protocol=pickle.HIGHEST_PROTOCOL))
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the asking process gave up
        finally:
            writer.close()

    async def gather(self) -> list[list[Metric]]:
        """The families of every other process that answered in time."""
        others = [index for index in range(self.count) if index != self.index]
        answers = await asyncio.gather(*(self._ask(index) for index in others))
        return [families for families in answers if families is not None]

    async def _ask(self, index: int) -> list[Metric] | None:
        path = socket_path(self.runtime_dir, index)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_unix_connection(str(path))
                try:
                    data = await reader.read()
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            log.warning("metrics of server process %d left out: %r", index, exc)
            return None
        try:
            families = pickle.loads(data)
        except Exception as exc:  # cut short: the process died while answering
            log.warning("metrics of server process %d left out: %r", index, exc)
            return None
        if not isinstance(families, list) or not all(isinstance(f, Metric) for f in families):
            log.warning("metrics of server process %d left out: not a list of families", index)
            return None
        return families


def share_metrics(app: web.Application, worker: Worker) -> None:
    """Make `/metrics` of `app`, run as `worker`, add up every process's."""
    siblings = SiblingMetrics(
        app[METRICS], index=worker.index, count=worker.count, runtime_dir=worker.runtime_dir
    )

    async def start(_app: web.Application) -> None:
        await siblings.start()

    async def close(_app: web.Application) -> None:
        await siblings.close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
