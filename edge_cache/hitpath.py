"""The hit path: an `asyncio.Protocol` that answers fresh cache hits itself and lends the
connection to aiohttp's `RequestHandler` for everything else.

Per request on a hit: one `bytes.find`, two regex matches, a dict lookup in the store, a
float comparison, one formatted head and one `transport.write`/`writelines` of stored
bytes (the body is never copied). No `web.Request`, no middleware, no task. Every other
request — misses, conditionals, ranges, admin endpoints, uploads, malformed heads — goes
to aiohttp on the same connection with the bytes already read:

- a request without a body is lent for that one request: aiohttp gets exactly its head,
  and once it has written its answer (keep-alive) the connection comes back here and the
  requests pipelined behind it are read in order;
- a request with a body (or a head this module does not understand) is given to aiohttp
  for the rest of the connection.

aiohttp's handler sees a `_LentTransport`: writes go to the real transport, `close()`
closes it, and detaching (after the lent request) turns its `close()` into nothing.
Flow control: while the socket's write buffer is above its high-water mark, no further
pipelined request is read (and reading pauses), so a slow client holds at most one
answer's reference, never copies; other clients are not held up (writes never block).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from edge_cache.fields import DELTA_SECONDS_MAX
from edge_cache.store import Entry
from edge_cache.wire import (
    HANDOVER,
    OtherRequest,
    RequestHead,
    read_head,
)

log = logging.getLogger(__name__)

SMALL_BODY = 16 * 1024
"""Bodies up to this size are sent joined to their head in one buffer; larger ones as a
second buffer (no copy)."""
MAX_PENDING = 256 * 1024
"""Bytes of pipelined requests buffered while an answer is pending; then reading pauses."""
SWEEP_INTERVAL = 5.0


class HitSource(Protocol):
    """What the hit path asks of the cache (`edge_cache.proxy.EdgeProxy.fast_entry`)."""

    def fast_entry(self, head: RequestHead, now: float) -> Entry | None:
        """A stored response that answers this request as it is (fresh, whole body, no
        per-request rewriting), counted as a hit; None to let the full path answer."""


class HitObserver(Protocol):
    """Told about each answer sent by the hit path (metrics, access log)."""

    def hit_sent(
        self, head: RequestHead, status: int, sent: int, body: int, seconds: float,
        request_id: bytes | None, peer: object,
    ) -> None: ...

    def request_id(self, head: RequestHead) -> bytes | None:
        """The request id to send back (None when ids are not used)."""


class HitServer:
    """Shared state of the hit path's connections: the cache, aiohttp's server (for lent
    requests), the keep-alive timeout, and the open connections (for shutdown)."""

    def __init__(
        self,
        source: HitSource,
        web_server: web.Server,
        *,
        keepalive_timeout: float = 75.0,
        observer: HitObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.web_server = web_server
        self.keepalive_timeout = keepalive_timeout
        self.observer = observer
        self.clock = clock
        self.connections: set[HitProtocol] = set()
        self.closing = False
        self.lent_requests = 0
        """Requests handed to aiohttp (for tests and stats)."""
        self._sweeper: asyncio.TimerHandle | None = None

    def __call__(self) -> HitProtocol:
        return HitProtocol(self)

    def make_handler(self, owner: HitProtocol) -> _LendingHandler:
        server = self.web_server
        return _LendingHandler(owner, server, loop=asyncio.get_running_loop(), **server._kwargs)

    def start_sweeping(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle (or stuck in a partial head) past the keep-alive timeout."""
        loop = asyncio.get_running_loop()
        limit = loop.time() - self.keepalive_timeout
        for connection in list(self.connections):
            connection.close_if_idle_since(limit)
        self._sweeper = loop.call_later(SWEEP_INTERVAL, self._sweep)

    def close_idle(self) -> None:
        """Stop taking requests: close every connection not lent to aiohttp (answers already
        written are flushed first); lent ones close when aiohttp is done with them."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in list(self.connections):
            connection.close_unless_lent()


class HitProtocol(asyncio.Protocol):
    __slots__ = (
        "_buf",
        "_closing",
        "_handler",
        "_last_active",
        "_lent",
        "_lent_paused_reading",
        "_permanent",
        "_reading_paused",
        "_server",
        "_write_paused",
        "peer",
        "transport",
    )

    def __init__(self, server: HitServer) -> None:
        self._server = server
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._handler: _LendingHandler | None = None
        self._lent: _LentTransport | None = None
        self._permanent = False
        self._write_paused = False
        self._reading_paused = False
        self._lent_paused_reading = False
        self._closing = False
        self._last_active = 0.0
        self.peer: object = None

    # -- transport events -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer = transport.get_extra_info("peername")
        self._last_active = asyncio.get_running_loop().time()
        self._server.connections.add(self)
        if self._server.closing:
            transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._server.connections.discard(self)
        self.transport = None
        handler = self._handler
        if handler is not None:
            self._handler = None
            handler.connection_lost(exc)

    def eof_received(self) -> bool | None:
        handler = self._handler
        if handler is not None:
            return handler.eof_received()  # type: ignore[func-returns-value]
        return None  # the transport closes once what was written is sent

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._handler is not None:
            self._handler.resume_writing()
        elif self._buf:
            self._process()

    def data_received(self, data: bytes) -> None:
        if self._permanent:
            assert self._handler is not None
            self._handler.data_received(data)
            return
        self._last_active = asyncio.get_running_loop().time()
        self._buf = self._buf + data if self._buf else data
        if self._handler is not None or self._write_paused:
            if len(self._buf) > MAX_PENDING:
                self._pause_reading()
            return
        self._process()

    # -- reading requests -------------------------------------------------------------

    def _process(self) -> None:
        """Answer buffered requests in order until one is lent, the buffer is empty or
        incomplete, or the socket's write buffer is full."""
        server = self._server
        buf = self._buf
        pos = 0
        while pos < len(buf) and not self._write_paused and not self._closing:
            if server.closing:
                self._close()
                return
            head = read_head(buf, pos)
            if head is None:
                break
            if head is HANDOVER:
                self._buf = b""
                self._lend(buf[pos:], permanent=True)
                return
            if isinstance(head, OtherRequest):
                self._buf = buf[head.end:]
                self._lend(buf[pos:head.end], permanent=False)
                return
            assert isinstance(head, RequestHead)
            started = time.perf_counter()
            entry = server.source.fast_entry(head, server.clock())
            if entry is None:
                self._buf = buf[head.end:]
                self._lend(buf[pos:head.end], permanent=False)
                return
            pos = head.end
            self._send(head, entry, started)
            if not head.keep_alive:
                self._buf = b""
                self._close()
                return
        self._buf = buf[pos:] if pos else buf
        if self._reading_paused and len(self._buf) <= MAX_PENDING and not self._write_paused:
            self._resume_reading()

    def _send(self, head: RequestHead, entry: Entry, started: float) -> None:
        transport = self.transport
        if transport is None:
            return
        wire = entry.wire
        assert wire is not None  # made by the source
        now = self._server.clock()
        facts = entry.facts
        age = facts.initial_age + (now - facts.response_time if now > facts.response_time else 0.0)
        observer = self._server.observer
        request_id = observer.request_id(head) if observer is not None else None
        extra = b"" if request_id is None else b"X-Request-Id: " + request_id + b"\r\n"
        minor = head.minor
        if minor == 0:
            if head.keep_alive:
                extra += b"Connection: keep-alive\r\n"
        elif not head.keep_alive:
            extra += b"Connection: close\r\n"
        is_get = head.method == b"GET"
        out = b"%sAge: %d\r\n%s%s\r\n" % (
            wire.heads[minor, is_get],
            int(age) if age < DELTA_SECONDS_MAX else DELTA_SECONDS_MAX,
            wire.tail, extra,
        )
        size = len(out)
        body = entry.body
        sent_body = 0
        if is_get and body:
            sent_body = len(body)
            if sent_body <= SMALL_BODY:
                transport.write(out + body)
            else:
                transport.writelines((out, body))
        else:
            transport.write(out)
        if observer is not None:
            observer.hit_sent(
                head, entry.status, size + sent_body, sent_body,
                time.perf_counter() - started, request_id, self.peer,
            )

    # -- lending to aiohttp -----------------------------------------------------------

    def _lend(self, data: bytes, *, permanent: bool) -> None:
        """Hand `data` (one bodiless request, or everything from here on when `permanent`)
        to a fresh aiohttp request handler on this connection."""
        transport = self.transport
        if transport is None:
            return
        self._server.lent_requests += 1
        self._permanent = permanent
        lent = _LentTransport(transport, self)
        handler = self._server.make_handler(self)
        self._lent = lent
        self._handler = handler
        handler.connection_made(lent)
        if self._write_paused:
            handler.pause_writing()
        if data:
            handler.data_received(data)

    def lent_request_done(self, handler: _LendingHandler, keep_alive: bool) -> None:
        """aiohttp has written the lent request's answer. With keep-alive the connection
        comes back (the handler is detached at once); without, aiohttp closes it."""
        if self._permanent or handler is not self._handler or not keep_alive:
            return
        lent = self._lent
        self._handler = None
        self._lent = None
        if lent is not None:
            lent.detach()
        handler.connection_lost(None)  # ends its task; the detached transport stays open
        if self._lent_paused_reading:
            self._lent_paused_reading = False
            if self._reading_paused and len(self._buf) <= MAX_PENDING:
                self._resume_reading()
        self._last_active = asyncio.get_running_loop().time()
        if self._buf:
            asyncio.get_running_loop().call_soon(self._resume_processing)

    def _resume_processing(self) -> None:
        if self._handler is None and self.transport is not None and self._buf:
            self._process()

    def lent_pause_reading(self) -> None:
        self._lent_paused_reading = True
        self._pause_reading()

    def lent_resume_reading(self) -> None:
        self._lent_paused_reading = False
        if len(self._buf) <= MAX_PENDING:
            self._resume_reading()

    # -- closing ----------------------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    def _close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    def close_unless_lent(self) -> None:
        if self._handler is None:
            self._close()

    def close_if_idle_since(self, limit: float) -> None:
        if self._handler is None and self._last_active < limit:
            self._close()


class _LentTransport(asyncio.Transport):
    """The real transport as aiohttp's handler sees it while a request is lent to it."""

    __slots__ = ("_detached", "_owner", "_real")

    def __init__(self, real: asyncio.Transport, owner: HitProtocol) -> None:
        super().__init__()
        self._real = real
        self._owner = owner
        self._detached = False

    def detach(self) -> None:
        self._detached = True

    def write(self, data: Any) -> None:
        if not self._detached:
            self._real.write(data)

    def writelines(self, list_of_data: Any) -> None:
        if not self._detached:
            self._real.writelines(list_of_data)

    def close(self) -> None:
        if not self._detached:
            self._detached = True
            self._owner._closing = True
            self._real.close()

    def abort(self) -> None:
        if not self._detached:
            self._detached = True
            self._owner._closing = True
            self._real.abort()

    def is_closing(self) -> bool:
        return self._detached or self._real.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def pause_reading(self) -> None:
        if not self._detached:
            self._owner.lent_pause_reading()

    def resume_reading(self) -> None:
        if not self._detached:
            self._owner.lent_resume_reading()

    def is_reading(self) -> bool:
        return self._real.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._real.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._real.get_write_buffer_limits()

    def can_write_eof(self) -> bool:
        return self._real.can_write_eof()

    def write_eof(self) -> None:
        if not self._detached:
            self._real.write_eof()


class _LendingHandler(RequestHandler):
    """aiohttp's request handler, telling the hit path when a lent request is answered."""

    __slots__ = ("_owner",)

    def __init__(self, owner: HitProtocol, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._owner = owner

    def log_access(
        self, request: BaseRequest, response: StreamResponse, time: float | None
    ) -> None:
        # Called once the answer is written (or the client went away).
        super().log_access(request, response, time)
        self._owner.lent_request_done(self, bool(response.keep_alive))


class HitSite(web.BaseSite):
    """A TCP site whose connections start on the hit path (`web.TCPSite` otherwise)."""

    __slots__ = ("_hits", "_host", "_port", "_reuse_port", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        hits: Callable[[web.Server], HitServer],
        host: str | None = None,
        port: int = 0,
        *,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._sock = sock
        assert runner.server is not None
        self._hits = hits(runner.server)

    @property
    def hits(self) -> HitServer:
        return self._hits

    @property
    def name(self) -> str:
        return f"http://{self._host or '0.0.0.0'}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            self._server = await loop.create_server(
                self._hits, sock=self._sock, backlog=self._backlog
            )
        else:
            self._server = await loop.create_server(
                self._hits, self._host, self._port, backlog=self._backlog,
                reuse_address=True, reuse_port=self._reuse_port or None,
            )
        self._hits.start_sweeping()

    async def stop(self) -> None:
        await super().stop()
        self._hits.close_idle()
