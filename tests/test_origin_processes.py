"""`vodstack origin --processes 2` as real processes: one port, two processes.

The kernel spreads new connections over the processes (SO_REUSEPORT). Which process holds
a connection is read from /proc (the server's end of it is a socket one of them has
open), so each check knows where its requests went.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.processes import VodstackProcess
from tests.support.proctree import children, socket_inodes, tcp_peer_inode, unix_socket_paths
from tests.support.scrape import Scrape
from vodstack.store.local import LocalStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)"),
]

VIDEO_ID = "AbCdEfGhIjKlMnOp"
PLAYLIST = f"/v/{VIDEO_ID}/master.m3u8"
MEDIA_ROUTE = "/v/{video_id}/{path}"


def publish(store_dir: Path) -> None:
    store = LocalStore(store_dir, fsync=False)

    async def put() -> None:
        await store.start()
        await store.put_bytes(f"videos/{VIDEO_ID}/master.m3u8", b"#EXTM3U\n", content_type="x")

    asyncio.run(put())


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[VodstackProcess]:
    publish(tmp_path / "store")
    process = VodstackProcess(
        ["origin", "--host", "127.0.0.1", "--port", "0", "--processes", "2",
         "--data-dir", str(tmp_path / "data"), "--store", f"file://{tmp_path}/store"],
        log_path=tmp_path / "origin.log",
    )  # fmt: skip
    try:
        yield process
    finally:
        process.stop()


def workers(origin: VodstackProcess) -> list[int]:
    return sorted(children(origin.proc.pid))


class Connection:
    """A keep-alive connection to the origin, and the process that holds its other end."""

    def __init__(self, origin: VodstackProcess) -> None:
        url = urlsplit(origin.url)
        assert url.hostname is not None and url.port is not None
        self.port = url.port
        self.http = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
        self.http.connect()

    def get(self, path: str) -> tuple[int, bytes]:
        self.http.request("GET", path)
        response = self.http.getresponse()
        return response.status, response.read()

    def owner(self, pids: list[int]) -> int:
        """The process holding the server's end (call once a request was answered)."""
        assert self.http.sock is not None
        inode = tcp_peer_inode(self.port, self.http.sock.getsockname()[1])
        assert inode is not None, "the server's end of the connection is not in /proc"
        owners = [pid for pid in pids if inode in socket_inodes(pid)]
        assert len(owners) == 1, owners
        return owners[0]

    def close(self) -> None:
        self.http.close()


def scrape_through(origin: VodstackProcess, pid: int, attempts: int = 64) -> Scrape:
    """`/metrics` answered by process `pid` (new connections until one lands there)."""
    pids = workers(origin)
    for _ in range(attempts):
        connection = Connection(origin)
        try:
            assert connection.get("/healthz")[0] == 200
            if connection.owner(pids) == pid:
                status, body = connection.get("/metrics")
                assert status == 200, body
                return Scrape.parse(body.decode())
        finally:
            connection.close()
    raise AssertionError(f"no connection reached process {pid} in {attempts} tries")


def test_metrics_add_up_every_process_whichever_answers(origin: VodstackProcess) -> None:
    pids = workers(origin)
    assert len(pids) == 2
    per_process = dict.fromkeys(pids, 0)
    for _ in range(20):  # 20 connections: all on one process has odds of 1 in 2**19
        connection = Connection(origin)
        try:
            for _ in range(3):
                assert connection.get(PLAYLIST) == (200, b"#EXTM3U\n")
            per_process[connection.owner(pids)] += 3
        finally:
            connection.close()
    assert all(count > 0 for count in per_process.values()), per_process

    for pid in pids:
        metrics = scrape_through(origin, pid)
        assert metrics.value("vodstack_http_requests_total", route=MEDIA_ROUTE) == 60
        assert (
            metrics.value("vodstack_http_requests_total", route=MEDIA_ROUTE, status="200") == 60
        )
        assert metrics.value("vodstack_server_processes") == 2
        assert metrics.value("vodstack_build_info") == 1  # the same in both: kept once
        assert metrics.value("process_resident_memory_bytes") > 0


def test_a_killed_process_is_replaced_and_the_port_keeps_answering(
    origin: VodstackProcess,
) -> None:
    before = workers(origin)
    assert len(before) == 2
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        now = workers(origin)
        if len(now) == 2 and victim not in now:
            break
        assert time.monotonic() < deadline, f"not replaced: {now}"
        time.sleep(0.1)
    replacement = (set(now) - set(before)).pop()
    metrics = None
    while metrics is None or metrics.value("vodstack_server_processes") != 2:
        assert time.monotonic() < deadline, "the new process's metrics never joined"
        metrics = scrape_through(origin, replacement)
    for _ in range(10):
        connection = Connection(origin)
        try:
            assert connection.get(PLAYLIST) == (200, b"#EXTM3U\n")
        finally:
            connection.close()
    assert origin.alive()
    assert "exited (status -9)" in origin.log_text()


def test_sigterm_stops_every_process_and_removes_their_sockets(
    origin: VodstackProcess,
) -> None:
    pids = workers(origin)
    sockets = [path for pid in pids for path in unix_socket_paths(pid)]
    assert sorted(path.name for path in sockets) == ["metrics-0.sock", "metrics-1.sock"]
    runtime_dir = sockets[0].parent
    assert runtime_dir.is_dir()

    assert origin.stop() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not runtime_dir.exists()
    assert "Traceback" not in origin.log_text()
