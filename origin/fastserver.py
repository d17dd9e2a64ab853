"""The origin's fast HTTP/1.1 server: media requests answered without aiohttp's machinery.

Nearly every request an origin sees is a GET of an object it has in memory or as an open
file. For those, aiohttp's request and response objects, router, middlewares and a task
per connection cost several times the work of the answer itself. The fast server accepts
connections itself (`origin.connection`): it reads each request head (`origin.http1`),
asks `MediaService.answer_now` and sends the whole answer in one system call — no task,
no await — or `sendfile`s a large file. An answer that needs the store runs as a task on
the same connection (`MediaService.answer`).

Anything else — another path, another method, a request aiohttp must judge — hands the
connection to aiohttp as it stands, with the bytes read so far: from then on it is an
ordinary connection of the same app (readiness, metrics, CORS preflights, 405s and 400s
answer exactly as before). `/healthz` is answered here too, so an edge's periodic health
checks do not move its pooled connections over to aiohttp.

Every answer is recorded in the app's HTTP metrics and access log like aiohttp's, under
the same route label, with the same `X-Request-Id` handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_runner import BaseSite

from origin.connection import FastConnection
from origin.handlers import MEDIA
from origin.replies import JSON_TYPE, Fields, Reply
from origin.service import MediaService
from origin.validators import format_http_date
from vodstack.access import ACCESS, AccessRecorder
from vodstack.web import NO_STORE

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT = 75.0
"""Idle keep-alive connections are closed after this long (nginx's default)."""
SWEEP_INTERVAL = 5.0
ACCEPTS_PER_WAKEUP = 64


class _DateLine:
    """`Date: ...\\r\\n`, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = f"Date: {format_http_date(now)}\r\n".encode()
        return self._line


def health_reply() -> Reply:
    """What `vodstack.web.healthz` answers."""
    body = json.dumps({"status": "ok"}).encode()
    return Reply(200, Fields((("Content-Type", JSON_TYPE), ("Cache-Control", NO_STORE))),
                 body, len(body))  # fmt: skip


class FastServer:
    """Listening sockets and the connections accepted on them."""

    def __init__(
        self,
        service: MediaService,
        handover: Callable[[], asyncio.Protocol],
        *,
        recorder: AccessRecorder | None = None,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
    ) -> None:
        self.service = service
        self.handover = handover
        """Makes the aiohttp protocol that takes a connection over."""
        self.recorder = recorder
        """The app's metrics and access log."""
        self.keepalive_timeout = keepalive_timeout
        self.health = health_reply()
        self.date = _DateLine()
        self.connections: set[FastConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        """Answers that needed the store, in progress."""
        self.sockets: list[socket.socket] = []
        self.closing = False
        self.answered = 0
        self.handed_over = 0
        self._sweeper: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()

    # -- listening -----------------------------------------------------------------------

    def listen(self, host: str, port: int, *, reuse_port: bool, backlog: int) -> None:
        """Listen on every address `host` names (as `loop.create_server` does)."""
        loop = asyncio.get_running_loop()
        infos: list[Any] = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        seen: set[tuple[object, ...]] = set()
        try:
            for family, kind, proto, _name, address in infos:
                if (family, address) in seen:
                    continue
                seen.add((family, address))
                sock = socket.socket(family, kind, proto)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                if port == 0:  # every address on the port the first one got
                    port = sock.getsockname()[1]
                    infos = [(f, k, p, n, (a[0], port, *a[2:])) for f, k, p, n, a in infos]
                sock.listen(backlog)
                sock.setblocking(False)
                loop.add_reader(sock.fileno(), self._accept, sock)
        except BaseException:
            self.close_listeners()
            raise
        self._sweeper = loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, ...: try again at the next wakeup
                log.warning("accepting a connection failed: %s", exc)
                return
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            remote = str(address[0]) if isinstance(address, tuple) and address else None
            connection = FastConnection(self, sock, remote)
            self.connections.add(connection)
            if self.closing:
                connection.close()

    def close_listeners(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.sockets:
            if sock.fileno() >= 0:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(sock.fileno())
                sock.close()

    # -- connections ---------------------------------------------------------------------

    def _sweep(self) -> None:
        """Close keep-alive connections idle for longer than the timeout."""
        deadline = time.monotonic() - self.keepalive_timeout
        for connection in list(self.connections):
            if not connection.busy and connection.last_active < deadline:
                connection.close()
        if not self.closing:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def forget(self, connection: FastConnection) -> None:
        self.connections.discard(connection)
        if self.closing and not self.connections:
            self._idle.set()

    async def shutdown(self, grace: float) -> None:
        """Stop accepting; close idle connections now, busy ones after their answer; wait
        for them (at most `grace` seconds), then cut whatever is left."""
        self.closing = True
        self.close_listeners()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.connections):
            if not connection.busy:
                connection.close()
        if self.connections:
            try:
                async with asyncio.timeout(grace):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("%d connection(s) still busy at shutdown", len(self.connections))
        for connection in list(self.connections):
            connection.abort()


class _Listening:
    """What aiohttp's runner expects of a site's server: its sockets, and `close()`."""

    def __init__(self, fast: FastServer) -> None:
        self._fast = fast

    @property
    def sockets(self) -> list[socket.socket]:
        return [sock for sock in self._fast.sockets if sock.fileno() >= 0]

    def close(self) -> None:
        self._fast.close_listeners()


class FastSite(BaseSite):
    """An aiohttp site whose connections start on the fast server (in place of
    `web.TCPSite`): the app's media service answers, the app's protocol takes over."""

    __slots__ = ("_fast", "_host", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        reuse_port: bool = False,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._fast: FastServer | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def fast(self) -> FastServer | None:
        return self._fast

    async def start(self) -> None:
        await super().start()
        runner = self._runner
        assert isinstance(runner, web.AppRunner) and runner.server is not None
        app = runner.app
        fast = FastServer(app[MEDIA], runner.server, recorder=app.get(ACCESS))
        fast.listen(self._host, self._port, reuse_port=self._reuse_port, backlog=self._backlog)
        self._fast = fast
        self._server = _Listening(fast)  # type: ignore[assignment]

    async def stop(self) -> None:
        await super().stop()  # no new connections
        if self._fast is not None:
            await self._fast.shutdown(self._runner._shutdown_timeout)
