"""`SiblingMetrics` over real unix sockets, several "processes" in one event loop.

Each has its own registry, as separate processes would; the multi-process origin itself
is tested in `test_origin_processes.py`.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import Counter, Gauge, generate_latest

from tests.support.scrape import Scrape
from vodstack.metrics import Metrics
from vodstack.metrics.siblings import PROCESSES_METRIC, SiblingMetrics, socket_path


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    # Short: a unix socket's path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="vs-sib-") as name:
        yield Path(name)


def process(runtime_dir: Path, index: int, count: int, served: int) -> SiblingMetrics:
    metrics = Metrics()
    Counter("served", "Answers.", registry=metrics.registry).inc(served)
    Gauge("open_files", "Open files.", registry=metrics.registry).set(served)
    return SiblingMetrics(
        metrics, index=index, count=count, runtime_dir=runtime_dir, timeout=0.5
    )


@pytest.fixture
async def three(runtime_dir: Path) -> AsyncIterator[list[SiblingMetrics]]:
    processes = [process(runtime_dir, index, 3, served) for index, served in enumerate((1, 2, 4))]
    for each in processes:
        await each.start()
    yield processes
    for each in processes:
        await each.close()


async def render(siblings: SiblingMetrics) -> Scrape:
    body, _content_type = await siblings.metrics.render()
    return Scrape.parse(body.decode())


async def test_each_process_renders_the_sum_of_all(three: list[SiblingMetrics]) -> None:
    for each in three:
        scrape = await render(each)
        assert scrape.value("served_total") == 7
        assert scrape.value("open_files") == 7
        assert scrape.value(PROCESSES_METRIC) == 3
        assert scrape.value("vodstack_build_info") == 1


async def test_a_process_that_is_gone_is_left_out(three: list[SiblingMetrics]) -> None:
    await three[2].close()
    assert not socket_path(three[2].runtime_dir, 2).exists()
    scrape = await render(three[0])
    assert scrape.value("served_total") == 3
    assert scrape.value(PROCESSES_METRIC) == 2


async def test_a_silent_process_is_left_out_within_the_timeout(runtime_dir: Path) -> None:
    answering = process(runtime_dir, 0, 2, served=5)
    await answering.start()
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, never answered

    silent = await asyncio.start_unix_server(never_answer, path=str(socket_path(runtime_dir, 1)))
    try:
        started = time.monotonic()
        scrape = await render(answering)
        assert time.monotonic() - started < 5
        assert scrape.value("served_total") == 5
        assert scrape.value(PROCESSES_METRIC) == 1
    finally:
        for writer in held:
            writer.close()
        silent.close()
        await answering.close()


async def test_garbage_from_a_socket_is_left_out(runtime_dir: Path) -> None:
    answering = process(runtime_dir, 0, 2, served=5)
    await answering.start()

    async def garbage(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"not a pickle")
        writer.close()

    other = await asyncio.start_unix_server(garbage, path=str(socket_path(runtime_dir, 1)))
    try:
        scrape = await render(answering)
        assert scrape.value("served_total") == 5
    finally:
        other.close()
        await answering.close()


async def test_a_stale_socket_file_is_replaced(runtime_dir: Path) -> None:
    socket_path(runtime_dir, 0).write_bytes(b"")  # left behind by a killed process
    first = process(runtime_dir, 0, 2, served=1)
    second = process(runtime_dir, 1, 2, served=2)
    await first.start()
    await second.start()
    try:
        assert (await render(second)).value("served_total") == 3
    finally:
        await first.close()
        await second.close()


async def test_figures_of_the_machine_are_not_added_up(runtime_dir: Path) -> None:
    processes = [process(runtime_dir, index, 2, served=1) for index in range(2)]
    for each in processes:
        each.metrics.disk.watch("store", runtime_dir)
        await each.start()
    try:
        both = await render(processes[0])  # refreshes the disk figures of both
        alone = Scrape.parse(generate_latest(processes[0].metrics.registry).decode())
    finally:
        for each in processes:
            await each.close()
    size = alone.value("vodstack_disk_size_bytes", volume="store")
    assert size > 0
    assert both.value("vodstack_disk_size_bytes", volume="store") == size
    assert 0 < both.value("vodstack_disk_available_bytes", volume="store") <= size
    assert both.value("python_info") == 1
    assert both.value("process_max_fds") == alone.value("process_max_fds")
    assert both.value("served_total") == 2
