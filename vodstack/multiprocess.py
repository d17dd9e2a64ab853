"""One server in several processes sharing its port (SO_REUSEPORT).

The parent binds the port first, without listening, which picks the port when 0 is asked
for and holds it; each child then listens on that port with SO_REUSEPORT, so the kernel
spreads new connections over the children, each with its own accept queue (no thundering
herd on one shared socket). The parent forks the children (they inherit the imported code
and the settings), says where the server listens once every child is ready, passes
SIGINT/SIGTERM on, and starts a new child in place of one that dies — giving up, and
stopping the others, when children keep dying.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0
"""How long stopping children may take (their own graceful stop is 30 s) before SIGKILL."""
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
"""More than MAX_RESTARTS deaths within this many seconds: something is wrong, give up."""


def default_processes() -> int:
    """One process per CPU this process may run on; 1 where the kernel does not spread
    connections over SO_REUSEPORT sockets (only Linux does: elsewhere one socket would get
    them all)."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except OSError:
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Worker:
    """What a child process is told about its place among the others."""

    index: int
    count: int
    port: int
    runtime_dir: Path
    """A directory shared by the processes of this server (removed when it stops)."""
    ready: Callable[[], None]
    """Call once listening: the parent announces the server when every child has."""


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket holding `port` (picked when 0)."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


class _Supervisor:
    def __init__(
        self, count: int, port: int, runtime_dir: Path, child: Callable[[Worker], int]
    ) -> None:
        self.count = count
        self.port = port
        self.runtime_dir = runtime_dir
        self.child = child
        self.context = multiprocessing.get_context("fork")
        self.processes: dict[int, BaseProcess] = {}
        self.stopping = False
        self.deaths: list[float] = []
        self.terminated: set[int] = set()

    def start(self, index: int, reserved: socket.socket) -> multiprocessing.connection.Connection:
        parent_end, child_end = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_child_main,
            args=(self.child, index, self.count, self.port, self.runtime_dir, child_end,
                  reserved),
            name=f"worker-{index}",
        )  # fmt: skip
        process.start()
        child_end.close()
        self.processes[index] = process
        return parent_end

    def terminate(self) -> None:
        """SIGTERM each child once: a second one would cut its graceful stop short."""
        self.stopping = True
        for process in self.processes.values():
            if process.pid is not None and process.pid not in self.terminated:
                self.terminated.add(process.pid)
                if process.is_alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes.values():
            if process.is_alive():
                log.warning("worker %s did not stop in time: killed", process.name)
                process.kill()
                process.join(5)

    def too_many_deaths(self) -> bool:
        now = time.monotonic()
        self.deaths = [moment for moment in self.deaths if now - moment < RESTART_WINDOW]
        self.deaths.append(now)
        return len(self.deaths) > MAX_RESTARTS


def run_processes(
    count: int,
    host: str,
    port: int,
    child: Callable[[Worker], int],
    *,
    announce: Callable[[int], None],
) -> int:
    """Run `child(worker)` in `count` forked processes listening on (`host`, `port`) with
    SO_REUSEPORT; `announce(port)` once all listen. Returns the exit status."""
    reserved = reserve_port(host, port)
    port = reserved.getsockname()[1]
    runtime_dir = Path(tempfile.mkdtemp(prefix="vodstack-workers-"))
    supervisor = _Supervisor(count, port, runtime_dir, child)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # At once, not when the parent's loop next wakes: new connections must be refused
        # from now on while the children finish what they are answering.
        supervisor.terminate()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        readiness = [supervisor.start(index, reserved) for index in range(count)]
        if not _wait_ready(supervisor, readiness):
            supervisor.stop()
            return 1
        announce(port)
        return _watch(supervisor, reserved)
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserved.close()
        with contextlib.suppress(OSError):
            for leftover in runtime_dir.iterdir():
                leftover.unlink()
            runtime_dir.rmdir()


def _wait_ready(
    supervisor: _Supervisor, readiness: list[multiprocessing.connection.Connection]
) -> bool:
    """True once every child said it listens; False if one died first or time ran out."""
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(readiness)
    while waiting and not supervisor.stopping:
        sentinels = [process.sentinel for process in supervisor.processes.values()]
        ready = multiprocessing.connection.wait(
            [*waiting, *sentinels], timeout=max(0.0, deadline - time.monotonic())
        )
        if not ready:
            log.error("the server processes did not start within %.0fs", START_TIMEOUT)
            return False
        for item in ready:
            if item in waiting:
                assert isinstance(item, multiprocessing.connection.Connection)
                with contextlib.suppress(EOFError, OSError):
                    item.recv()
                    waiting.remove(item)
                    item.close()
                    continue
                waiting.remove(item)  # closed without a word: the child died
                item.close()
        if any(not process.is_alive() for process in supervisor.processes.values()):
            dead = [p for p in supervisor.processes.values() if not p.is_alive()]
            log.error("a server process exited during start-up (status %s)", dead[0].exitcode)
            return False
    return not supervisor.stopping


def _watch(supervisor: _Supervisor, reserved: socket.socket) -> int:
    """Until a signal: replace children that die."""
    while not supervisor.stopping:
        sentinels = {process.sentinel: index for index, process in supervisor.processes.items()}
        for sentinel in multiprocessing.connection.wait(list(sentinels), timeout=1.0):
            index = sentinels[sentinel]  # type: ignore[index]
            process = supervisor.processes[index]
            process.join()
            if supervisor.stopping:
                break
            log.error("server process %d exited (status %s)", index, process.exitcode)
            if supervisor.too_many_deaths():
                log.error("server processes keep exiting: stopping")
                return 1
            supervisor.start(index, reserved).close()
    return 0


def _child_main(
    child: Callable[[Worker], int],
    index: int,
    count: int,
    port: int,
    runtime_dir: Path,
    ready_end: multiprocessing.connection.Connection,
    reserved: socket.socket,
) -> None:
    reserved.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def ready() -> None:
        with contextlib.suppress(OSError):
            ready_end.send(index)
            ready_end.close()

    code = child(Worker(index, count, port, runtime_dir, ready))
    raise SystemExit(code)
