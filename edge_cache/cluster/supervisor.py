"""The parent of a multi-process edge: reserve the address, run N workers, relay, restart.

The supervisor binds the listening address itself (SO_REUSEPORT, never listening on it),
so that port 0 becomes one port for every worker and the port stays reserved while a
worker restarts. Each worker binds the same address with SO_REUSEPORT and the kernel
spreads new connections over them. Workers are `python -m edge_cache.cluster.worker`
processes that connect to the supervisor's unix socket (in a fresh 0700 directory) and
receive their settings there (secrets never go through argv or files).

The supervisor relays: copies of stored responses to every other worker (dropped for a
worker whose channel is backed up), purges numbered in one order to all workers, and
questions (stats, metrics) gathered from the other workers within a time limit. It
restarts a worker that dies (with a growing delay when it dies young), and on SIGTERM or
SIGINT passes SIGTERM on and waits for the workers to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_cache.cluster import frames
from edge_cache.cluster.budget import resident_bytes
from vodstack.logs import json_enabled, setup_logging
from vodstack.settings import Settings

log = logging.getLogger(__name__)

WORKER_SHUTDOWN = 30.0
"""`vodstack.server.SHUTDOWN_TIMEOUT`: how long a worker lets running requests finish (not
imported: this module keeps the supervisor process free of aiohttp)."""
CONTROL_NAME = "control.sock"
GATHER_TIMEOUT = 3.0
START_TIMEOUT = 60.0
REPLICA_BACKLOG = 2 * 1024 * 1024
"""Bytes waiting for one worker beyond which copies for it are dropped."""
RELAY_PIECE = 256 * 1024
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 10.0
YOUNG = 5.0
"""A worker that dies younger than this is restarted after a doubled delay."""

Address = tuple[int, tuple[Any, ...]]
"""(address family, socket address) to bind."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker receives when it connects (pickled over the control channel)."""

    settings: Settings
    index: int
    count: int
    addresses: tuple[Address, ...]
    supervisor_rss: int = 0
    """The supervisor's resident memory at start, paid for out of the cache (budget.py)."""


def reserve(host: str, port: int) -> tuple[list[socket.socket], tuple[Address, ...]]:
    """Bound, not listening, SO_REUSEPORT sockets for every address of host:port (port 0:
    one free port for all). Workers bind the same addresses."""
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    addresses: list[Address] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, _type, _proto, _name, address in infos:
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and addresses:
                address = (address[0], addresses[0][1][1], *address[2:])
            sock.bind(address)
            addresses.append((family, sock.getsockname()))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets, tuple(addresses)


def listening_socket(address: Address) -> socket.socket:
    """A worker's own socket on a reserved address (SO_REUSEPORT), listening."""
    family, sockaddr = address
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def base_url(host: str, addresses: tuple[Address, ...]) -> str:
    port = addresses[0][1][1]
    shown = host if host not in {"0.0.0.0", "::", ""} else socket.gethostname()
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


@dataclass(eq=False)
class _Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    writer: asyncio.StreamWriter | None = None
    ready: bool = False
    delay: float = RESTART_DELAY
    restarts: int = 0
    dropped: int = 0
    relaying: bool = False
    """A copy is being passed on to this worker piece by piece: other frames wait."""
    waiting: list[bytes] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        """Send a whole frame (after the copy being relayed to this worker, if any)."""
        if self.relaying:
            self.waiting.append(data)
        else:
            self.write(data)

    def write(self, data: bytes) -> None:
        writer = self.writer
        if writer is not None and not writer.transport.is_closing():
            writer.write(data)

    def relayed(self) -> None:
        self.relaying = False
        waiting, self.waiting = self.waiting, []
        for data in waiting:
            self.write(data)


@dataclass(eq=False)
class _Gather:
    """Answers to one worker's question (or purge) from the others."""

    request_id: int
    """How the other workers refer to it."""
    origin: int
    request: int
    waiting: set[int]
    results: list[Any] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Supervisor:
    def __init__(self, settings: Settings, count: int, *, name: str = "vodstack edge") -> None:
        if count < 2:
            raise ValueError("a supervisor runs two or more workers")
        self.settings = settings
        self.count = count
        self.name = name
        self.supervisor_rss = 0
        self.workers = [_Worker(index) for index in range(count)]
        self.addresses: tuple[Address, ...] = ()
        self.seq = 0
        """Number of the last purge (see edge_cache.cluster.purges)."""
        self._gathers: dict[int, _Gather] = {}
        self._ids = itertools.count(1)
        self._stopping = False
        self._stop = asyncio.Event()
        self._all_ready = asyncio.Event()
        self._failed: str | None = None
        self._control_dir: Path | None = None
        self._watchers: set[asyncio.Task[None]] = set()

    # -- running ----------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        reserved: list[socket.socket] = []
        server: asyncio.AbstractServer | None = None
        try:
            reserved, self.addresses = reserve(self.settings.host, self.settings.port)
            self.supervisor_rss = resident_bytes()
            self._control_dir = Path(tempfile.mkdtemp(prefix="vodstack-edge-"))
            control = str(self._control_dir / CONTROL_NAME)
            server = await asyncio.start_unix_server(self._accept, control)
            for worker in self.workers:
                await self._start(worker, control)
            if not await self._wait_until_ready():
                print(f"vodstack: {self.name} did not start: {self._failed}", file=sys.stderr)
                return 1
            url = base_url(self.settings.host, self.addresses)
            if not json_enabled():  # as vodstack.server.announce
                print(f"{self.name} listening on {url}", flush=True)
            log.info("%s listening on %s", self.name, url, extra={"url": url})
            log.info("%s: %d worker processes", self.name, self.count)
            await self._stop.wait()
            log.info("%s stopping", self.name)
            return 0
        finally:
            self._stopping = True
            await self._stop_workers()
            if server is not None:
                server.close()
            for sock in reserved:
                sock.close()
            if self._control_dir is not None:
                shutil.rmtree(self._control_dir, ignore_errors=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _wait_until_ready(self) -> bool:
        stop = asyncio.ensure_future(self._stop.wait())
        ready = asyncio.ensure_future(self._all_ready.wait())
        try:
            await asyncio.wait({stop, ready}, timeout=START_TIMEOUT,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            stop.cancel()
            ready.cancel()
        if self._all_ready.is_set() and self._failed is None:
            return True
        self._failed = self._failed or (
            "stopped while starting" if self._stop.is_set() else "workers did not get ready"
        )
        return False

    async def _start(self, worker: _Worker, control: str) -> None:
        worker.ready = False
        worker.started = time.monotonic()
        worker.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge_cache.cluster.worker", control, str(worker.index),
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        task = asyncio.create_task(self._watch(worker, worker.process, control))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch(
        self, worker: _Worker, process: asyncio.subprocess.Process, control: str
    ) -> None:
        code = await process.wait()
        if self._stopping or worker.process is not process:
            return
        lived = time.monotonic() - worker.started
        if not self._all_ready.is_set():
            self._failed = f"worker {worker.index} exited with {code} while starting"
            self._stop.set()
            return
        worker.delay = min(MAX_RESTART_DELAY, worker.delay * 2) if lived < YOUNG else (
            RESTART_DELAY
        )
        log.warning(
            "edge worker %d (pid %d) exited with %s after %.0f s; restarting in %.1f s",
            worker.index, process.pid, code, lived, worker.delay,
        )
        await asyncio.sleep(worker.delay)
        if not self._stopping:
            worker.restarts += 1
            await self._start(worker, control)

    async def _stop_workers(self) -> None:
        running = [
            worker.process for worker in self.workers
            if worker.process is not None and worker.process.returncode is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if running:
            _done, late = await asyncio.wait(
                [asyncio.ensure_future(p.wait()) for p in running], timeout=WORKER_SHUTDOWN + 5
            )
            if late:
                for process in running:
                    if process.returncode is None:
                        log.warning("edge worker pid %d did not stop; killing it", process.pid)
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()
                await asyncio.gather(*(p.wait() for p in running))
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    # -- the control channel ----------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker: _Worker | None = None
        try:
            kind, pieces = await frames.read_frame(reader)
            hello = frames.read_message(pieces[0]) if kind == frames.MESSAGE else ()
            if len(hello) != 3 or hello[0] != "hello" or not 0 <= hello[1] < self.count:
                raise frames.FrameError(f"expected hello, got {hello[:2]!r}")
            worker = self.workers[hello[1]]
            if worker.process is None or worker.process.pid != hello[2]:
                raise frames.FrameError(f"hello from an unknown process {hello[1:]!r}")
            worker.writer = writer
            spec = WorkerSpec(
                self.settings, worker.index, self.count, self.addresses, self.supervisor_rss
            )
            worker.send(frames.message("welcome", spec, self.seq))
            while True:
                header = await reader.readexactly(frames.HEADER.size)
                length, kind = frames.HEADER.unpack(header)
                if kind == frames.REPLICA and length <= frames.MAX_FRAME:
                    await self._relay(worker, header, length, reader)
                elif kind == frames.MESSAGE and length <= frames.MAX_FRAME:
                    payload = await reader.readexactly(length)
                    self._on_message(worker, frames.read_message(payload))
                else:
                    raise frames.FrameError(f"bad frame header: kind {kind}, length {length}")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except frames.FrameError as exc:
            log.warning("control channel: %s", exc)
        finally:
            if worker is not None and worker.writer is writer:
                worker.writer = None
                worker.ready = False
                for gather in list(self._gathers.values()):
                    self._answered(gather, worker.index, None, counted=False)
            writer.close()

    async def _relay(
        self, origin: _Worker, header: bytes, length: int, reader: asyncio.StreamReader
    ) -> None:
        """Pass a copied response on to the other workers as it arrives, piece by piece:
        the supervisor never holds a whole body. A worker whose channel is backed up when
        the copy starts does not get it (it will fetch the object itself if asked)."""
        targets = []
        for worker in self.workers:
            if worker is origin or worker.writer is None or not worker.ready:
                continue
            if worker.relaying or (
                worker.writer.transport.get_write_buffer_size() > REPLICA_BACKLOG
            ):
                worker.dropped += 1
                continue
            targets.append(worker)
            worker.relaying = True
            worker.write(header)
        left = length
        try:
            while left:
                piece = await reader.read(min(left, RELAY_PIECE))
                if not piece:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(piece)
                for worker in targets:
                    worker.write(piece)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The sender died halfway: end the frame as broken so the others drop it.
            filler = b"\0" * (left - len(frames.BROKEN)) + frames.BROKEN if left else b""
            for worker in targets:
                worker.write(filler)
            raise
        finally:
            for worker in targets:
                worker.relayed()

    def _on_message(self, worker: _Worker, fields: tuple[Any, ...]) -> None:
        name = fields[0]
        if name == "ready":
            worker.ready = True
            worker.delay = worker.delay if time.monotonic() - worker.started < YOUNG else (
                RESTART_DELAY
            )
            if all(w.ready for w in self.workers):
                self._all_ready.set()
        elif name == "purge":
            _, request, target, is_prefix = fields
            self.seq += 1
            gather = self._gather(worker, request)
            for other in self.workers:
                if other.writer is None:
                    continue
                answer_to = None if other is worker else gather.request_id
                other.send(frames.message(
                    "purged", self.seq, target, is_prefix, worker.index, answer_to
                ))
            self._maybe_done(gather)
        elif name == "ask":
            _, request, what, payload = fields
            gather = self._gather(worker, request)
            for index in gather.waiting:
                self.workers[index].send(frames.message("ask", gather.request_id, what, payload))
            self._maybe_done(gather)
        elif name == "answer":
            _, gather_id, result = fields
            found = self._gathers.get(gather_id)
            if found is not None:
                self._answered(found, worker.index, result)
        else:
            log.warning("unknown control message %r from worker %d", name, worker.index)

    def _gather(self, origin: _Worker, request: int) -> _Gather:
        gather_id = next(self._ids)
        waiting = {
            w.index for w in self.workers if w is not origin and w.writer is not None
        }
        gather = _Gather(gather_id, origin.index, request, waiting)
        self._gathers[gather_id] = gather
        gather.timer = asyncio.get_running_loop().call_later(
            GATHER_TIMEOUT, self._finish, gather_id
        )
        return gather

    def _answered(
        self, gather: _Gather, index: int, result: Any, *, counted: bool = True
    ) -> None:
        if index in gather.waiting:
            gather.waiting.discard(index)
            if counted:
                gather.results.append(result)
            self._maybe_done(gather)

    def _maybe_done(self, gather: _Gather) -> None:
        if not gather.waiting:
            self._finish(gather.request_id)

    def _finish(self, gather_id: int) -> None:
        gather = self._gathers.pop(gather_id, None)
        if gather is None:
            return
        if gather.timer is not None:
            gather.timer.cancel()
        self.workers[gather.origin].send(
            frames.message("answers", gather.request, gather.results)
        )


def exec_supervisor(settings: Settings, processes: int) -> None:
    """Become the supervisor: this process (its pid kept) is replaced by a fresh
    `python -m edge_cache.cluster.supervisor`, which imports only what supervising needs
    (no aiohttp: some 20 MB less than the command line that chose it). The settings go
    through an inherited pipe, never argv. Returns only if exec fails."""
    read, write = os.pipe()
    data = pickle.dumps((settings, processes), protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > 60_000:  # more than a pipe holds without a reader
        os.close(read)
        os.close(write)
        return
    os.write(write, data)
    os.close(write)
    os.set_inheritable(read, True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, [sys.executable, "-m", __name__, str(read)])
    except OSError:
        os.close(read)


def main(argv: list[str] | None = None) -> int:
    """`python -m edge_cache.cluster.supervisor FD`: settings and process count, pickled,
    on the inherited file descriptor FD (see `exec_supervisor`)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m edge_cache.cluster.supervisor FD", file=sys.stderr)
        return 2
    with os.fdopen(int(args[0]), "rb") as source:
        settings, processes = pickle.load(source)
    setup_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(Supervisor(settings, processes).run())
    except KeyboardInterrupt:
        return 130


def default_processes() -> int:
    """One worker per CPU this process may run on; 1 where the kernel does not spread
    connections over SO_REUSEPORT sockets (only Linux does)."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        return 1
    return max(1, len(os.sched_getaffinity(0)))


if __name__ == "__main__":
    sys.exit(main())
