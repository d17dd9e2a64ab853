"""The origin's fast HTTP/1.1 server: media requests answered straight from the protocol.

Nearly every request an origin sees is a GET of an object it has in memory or as an open
file. For those, aiohttp's machinery (request and response objects, router, middlewares,
a task per connection) costs several times the work of the answer itself. `FastProtocol`
reads each request head (`origin.http1`), asks `MediaService.answer_now`, and writes the
whole answer in one `transport.write`: no task, no await. An answer that needs the store
runs as a task on the same connection (`MediaService.answer`), and a body larger than
memory is written chunk by chunk with flow control.

Anything else — another path, another method, a request aiohttp must judge — hands the
connection to aiohttp as it stands, with the bytes read so far: from then on the
connection is an ordinary aiohttp connection of the same app (health checks, metrics,
CORS preflights, 405s and 400s all answer exactly as before). `/healthz` is answered here
too, so an edge's periodic health checks do not move its pooled connections to aiohttp.
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

from origin.handlers import MEDIA
from origin.http1 import MAX_HEAD_BYTES, RequestHead, parse_head, response_head
from origin.replies import JSON_TYPE, Fields, Reply, error_reply
from origin.service import MediaRequest, MediaService
from origin.validators import format_http_date
from vodstack.access import ACCESS, CLIENT_CLOSED, AccessRecorder
from vodstack.errors import ApiError, ErrorCode
from vodstack.playback.tokens import QUERY_PARAMETER
from vodstack.request_ids import current_request_id, request_id_from
from vodstack.web import NO_STORE

log = logging.getLogger(__name__)

MEDIA_PREFIX = "/v/"
HEALTH_PATH = "/healthz"
KEEPALIVE_TIMEOUT = 75.0
"""Idle keep-alive connections are closed after this long (nginx's default)."""
SWEEP_INTERVAL = 5.0
MAX_PENDING_BYTES = 256 * 1024
"""Reading pauses while this much of the next requests waits behind a slow answer."""
INLINE_BODY = 64 * 1024
"""Bodies up to this size are joined with their head into one write."""
WRITE_HIGH_WATER = 1024 * 1024

_HEALTH_BODY = json.dumps({"status": "ok"}).encode()
_HEALTH = Reply(
    200, Fields((("Content-Type", JSON_TYPE), ("Cache-Control", NO_STORE))), _HEALTH_BODY,
    len(_HEALTH_BODY),
)  # fmt: skip

REQUEST_ID_FIELD = "x-request-id"


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


class FastServer:
    """The state shared by the connections of one listening socket."""

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
        """The app's metrics and access log: every answer is recorded as aiohttp's are."""
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[FastProtocol] = set()
        self.closing = False
        self.date = _DateLine()
        self.answered = 0
        self.handed_over = 0
        self._sweeper: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()

    def protocol(self) -> FastProtocol:
        if self._sweeper is None and not self.closing:
            self._schedule_sweep()
        return FastProtocol(self)

    def _schedule_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _sweep(self) -> None:
        """Close keep-alive connections idle for longer than the timeout."""
        deadline = time.monotonic() - self.keepalive_timeout
        for connection in list(self.connections):
            if not connection.busy and connection.last_active < deadline:
                connection.close()
        self._schedule_sweep()

    def forget(self, connection: FastProtocol) -> None:
        self.connections.discard(connection)
        if self.closing and not self.connections:
            self._idle.set()

    async def shutdown(self, grace: float) -> None:
        """Close idle connections now, busy ones after their answer; wait for them (at
        most `grace` seconds), then cut whatever is left."""
        self.closing = True
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


class FastProtocol(asyncio.Protocol):
    """One client connection (until it is handed over to aiohttp)."""

    def __init__(self, server: FastServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False
        """An answer is being worked on or sent (later requests wait in `buffer`)."""
        self.last_active = time.monotonic()
        self.remote: str | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self.server.connections.add(self)
        if self.server.closing:
            self.close()

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self.buffer = self.buffer + data if self.buffer else data
        if self.busy:
            if len(self.buffer) > MAX_PENDING_BYTES and not self._reading_paused:
                self._reading_paused = True
                assert self.transport is not None
                self.transport.pause_reading()
            return
        self._serve()

    def eof_received(self) -> bool:
        return False  # close once the answers in flight are written

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.forget(self)
        self.transport = None
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_exception(ConnectionResetError("the client went away"))
        self._drain = None

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- serving -------------------------------------------------------------------------

    def _serve(self) -> None:
        """Answer every complete request in the buffer, in order."""
        while not self.busy and self.transport is not None:
            buffer = self.buffer
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._hand_over()
                return
            head = parse_head(buffer[:end])
            if head is None:
                self._hand_over()
                return
            if head.path.startswith(MEDIA_PREFIX):
                self.buffer = buffer[end + 4 :]
                self._media(head)
            elif head.path == HEALTH_PATH and not head.query:
                self.buffer = buffer[end + 4 :]
                exchange = _Exchange(head, HEALTH_PATH)
                self._write_reply(exchange, _HEALTH)
            else:
                self._hand_over()
                return
            if self.server.closing and not self.busy:
                self.close()
                return
        if self._reading_paused and not self.busy and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    def _media(self, head: RequestHead) -> None:
        exchange = _Exchange(head, MEDIA_ROUTE_LABEL)
        query_token = None
        service = self.server.service
        if service.playback_secret is not None and head.query:
            query_token = _query_value(head.query, QUERY_PARAMETER)
        request = MediaRequest(head.method, head.path, head.fields, query_token)
        reply = service.answer_now(request)
        if reply is not None and not _is_streamed(reply, head):
            self._write_reply(exchange, reply)
            return
        self.busy = True
        token = current_request_id.set(exchange.request_id)  # the task's log lines carry it
        try:
            self._task = asyncio.ensure_future(self._answer_later(exchange, request, reply))
        finally:
            current_request_id.reset(token)

    async def _answer_later(
        self, exchange: _Exchange, request: MediaRequest, reply: Reply | None
    ) -> None:
        recorder = self.server.recorder
        if recorder is not None:
            recorder.metrics.in_flight.value += 1
        try:
            if reply is None:
                reply = await self.server.service.answer(request)
            if _is_streamed(reply, exchange.head):
                await self._write_streamed(exchange, reply)
            else:
                self._write_reply(exchange, reply)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.raw_path)
            self._write_reply(exchange, error_reply(ApiError(ErrorCode.INTERNAL)))
        finally:
            if recorder is not None:
                recorder.metrics.in_flight.value -= 1
            self.busy = False
            self._task = None
        self.last_active = time.monotonic()
        if self.transport is not None:
            self._serve()

    def _head_bytes(self, exchange: _Exchange, reply: Reply, keep_alive: bool) -> bytes:
        head = exchange.head
        return response_head(
            head.minor, reply.status, reply.fields.wire, reply.length, keep_alive,
            self.server.date.get(), b"X-Request-Id: %s\r\n" % exchange.request_id.encode(),
        )  # fmt: skip

    def _write_reply(self, exchange: _Exchange, reply: Reply) -> None:
        """A reply whose body (if any) is in memory: one write."""
        transport = self.transport
        if transport is None:  # the client left while the answer was being decided
            self._answered(exchange, CLIENT_CLOSED, 0)
            return
        head = exchange.head
        keep_alive = head.keep_alive and not self.server.closing
        head_bytes = self._head_bytes(exchange, reply, keep_alive)
        body = reply.body if head.method != "HEAD" else None
        sent = len(head_bytes)
        if body is None:
            transport.write(head_bytes)
        else:
            assert isinstance(body, bytes | bytearray | memoryview)
            sent += len(body)
            if len(body) <= INLINE_BODY:
                transport.write(head_bytes + body)
            else:
                transport.writelines((head_bytes, body))
        if not keep_alive:
            self.close()
        self._answered(exchange, reply.status, sent)

    async def _write_streamed(self, exchange: _Exchange, reply: Reply) -> None:
        """A reply whose body is sent chunk by chunk (a file or a store stream)."""
        body = reply.body
        assert body is not None and not isinstance(body, bytes | bytearray | memoryview)
        transport = self.transport
        if transport is None:
            await body.aclose()
            self._answered(exchange, CLIENT_CLOSED, 0)
            return
        keep_alive = exchange.head.keep_alive and not self.server.closing
        head_bytes = self._head_bytes(exchange, reply, keep_alive)
        transport.write(head_bytes)
        sink = _ProtocolSink(self)
        await body.send(sink)
        complete = reply.length is None or sink.sent == reply.length
        if not complete or not keep_alive:
            self.close()
        status = reply.status if complete else CLIENT_CLOSED
        self._answered(exchange, status, len(head_bytes) + sink.sent)

    def _answered(self, exchange: _Exchange, status: int, sent: int) -> None:
        self.server.answered += 1
        recorder = self.server.recorder
        if recorder is not None and recorder.records:
            head = exchange.head
            request_id = exchange.request_id
            recorder.record_answer(
                head.method, head.path, exchange.route, status, sent,
                time.perf_counter() - exchange.started, remote=self.remote,
                request_id=lambda: request_id,
            )  # fmt: skip

    async def drain(self) -> None:
        if self.transport is None:
            raise ConnectionResetError("the client went away")
        if not self._writing_paused:
            return
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()
        await self._drain

    # -- handing over and closing ------------------------------------------------------

    def _hand_over(self) -> None:
        """aiohttp takes this connection (and the bytes not answered yet) from here on."""
        transport = self.transport
        if transport is None:
            return
        self.server.forget(self)
        self.server.handed_over += 1
        self.transport = None
        protocol = self.server.handover()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._writing_paused:
            protocol.pause_writing()
        buffer, self.buffer = self.buffer, b""
        if buffer:
            protocol.data_received(buffer)
        if self._reading_paused:
            transport.resume_reading()

    def close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self) -> None:
        transport = self.transport
        if transport is not None:
            transport.abort()


class _ProtocolSink:
    """A FastProtocol's connection as the Sink of a streamed body."""

    def __init__(self, protocol: FastProtocol) -> None:
        self._protocol = protocol
        self.sent = 0

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        transport.write(data)
        self.sent += len(data)
        await protocol.drain()

    def abort(self) -> None:
        self._protocol.close()


MEDIA_ROUTE_LABEL = "/v/{video_id}/{path}"
"""The media route's template, the label aiohttp's own answers are recorded under."""


class _Exchange:
    """One request being answered: what the answer's record needs."""

    __slots__ = ("head", "request_id", "route", "started")

    def __init__(self, head: RequestHead, route: str) -> None:
        self.head = head
        self.route = route
        self.started = time.perf_counter()
        self.request_id = request_id_from(head.fields.get(REQUEST_ID_FIELD))


def _is_streamed(reply: Reply, head: RequestHead) -> bool:
    body = reply.body
    return (
        head.method != "HEAD"
        and body is not None
        and not isinstance(body, bytes | bytearray | memoryview)
    )


def _query_value(query: str, name: str) -> str | None:
    """The first value of `name` in a raw query, decoded as aiohttp would."""
    from urllib.parse import parse_qsl

    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == name:
            return value
    return None


class FastSite(BaseSite):
    """An aiohttp site whose connections start on the fast server (`web.TCPSite` with the
    fast protocol in front of the app's own)."""

    __slots__ = ("_app", "_fast", "_host", "_port", "_reuse_port")

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
        self._app = runner.app
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
        loop = asyncio.get_running_loop()
        handover = self._runner.server
        assert handover is not None
        app = self._app
        fast = self._fast = FastServer(app[MEDIA], handover, recorder=app.get(ACCESS))
        self._server = await loop.create_server(
            fast.protocol, self._host, self._port, backlog=self._backlog,
            reuse_address=True, reuse_port=self._reuse_port or None,
        )  # fmt: skip

    async def stop(self) -> None:
        fast = self._fast
        await super().stop()  # no new connections
        if fast is not None:
            timeout: Any = getattr(self._runner, "_shutdown_timeout", 60.0)
            await fast.shutdown(float(timeout))
