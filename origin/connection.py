"""One client connection of the fast server, on its own non-blocking socket.

The connection owns its socket (not an asyncio transport) so that a file body can go out
with `sendfile`: the kernel copies the page cache straight to the socket, where a
transport would need the bytes read into memory first (uvloop has no `sendfile`). Reads
and writes are driven by `loop.add_reader` / `add_writer`; a small answer goes out in one
`send`, and output the socket does not take at once waits in a queue for it to drain.

A request the fast server does not answer hands the connection to aiohttp: the socket is
wrapped into a transport (`loop.connect_accepted_socket`) for the app's own protocol,
which is given the bytes not answered yet.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from origin.files import CHUNK_SIZE, FileBody, read_waiting, resident
from origin.http1 import MAX_HEAD_BYTES, RequestHead, parse_head
from origin.replies import Reply, error_reply
from origin.service import MediaRequest
from vodstack.access import CLIENT_CLOSED
from vodstack.errors import ApiError, ErrorCode
from vodstack.playback.tokens import QUERY_PARAMETER
from vodstack.request_ids import current_request_id, request_id_from

if TYPE_CHECKING:
    from origin.fastserver import FastServer

log = logging.getLogger(__name__)

# The paths aiohttp's router gives the media route (`/v/{video_id}/{path:.+}`), as long
# as nothing is percent-encoded (the router matches the decoded path: those go to aiohttp).
_MEDIA_PATH_RE = re.compile(r"/v/[^{}/]+/.")
HEALTH_PATH = "/healthz"
MEDIA_ROUTE_LABEL = "/v/{video_id}/{path}"
"""The media route's template, the label aiohttp's own answers are recorded under."""
READ_SIZE = 64 * 1024
JOIN_BELOW = 64 * 1024
"""A body up to this size is copied behind its head (one buffer); larger ones are sent
with the head by one `sendmsg`."""
MAX_PENDING_BYTES = 256 * 1024
"""Reading pauses while this much of the next requests waits behind a slow answer."""
DRAIN_BELOW = 256 * 1024
"""A streamed body waits while more than this is queued for the socket."""
SENDFILE_STEP = 1024 * 1024
REQUEST_ID_FIELD = "x-request-id"
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.ETIMEDOUT)

Bytes = bytes | bytearray | memoryview


class _Exchange:
    """One request being answered: what the answer's record needs."""

    __slots__ = ("head", "request_id", "route", "started")

    def __init__(self, head: RequestHead, route: str) -> None:
        self.head = head
        self.route = route
        self.started = time.perf_counter()
        self.request_id = request_id_from(head.fields.get(REQUEST_ID_FIELD))


class FastConnection:
    """Reads requests, answers them in order, hands over to aiohttp when it must."""

    __slots__ = (
        "_closing", "_drain", "_eof", "_file", "_handing_over", "_loop", "_out", "_out_bytes",
        "_reading", "_writing", "buffer", "busy", "fd", "last_active", "remote", "server",
        "sock",
    )  # fmt: skip

    def __init__(self, server: FastServer, sock: socket.socket, remote: str | None) -> None:
        self.server = server
        self.sock: socket.socket | None = sock
        self.fd = sock.fileno()
        self.remote = remote
        self.buffer = b""
        self.busy = False
        """An answer is being worked on or sent (later requests wait in `buffer`)."""
        self.last_active = time.monotonic()
        self._loop = asyncio.get_running_loop()
        self._out: deque[memoryview] = deque()
        self._out_bytes = 0
        self._drain: asyncio.Future[None] | None = None
        self._reading = True
        self._writing = False
        self._eof = False
        self._closing = False
        """Close once the queued output is sent."""
        self._handing_over = False
        self._file: _FileSend | None = None
        """A file being sent with sendfile, step by step as the socket takes it."""
        self._loop.add_reader(self.fd, self._readable)

    @property
    def open(self) -> bool:
        return self.sock is not None

    # -- reading -------------------------------------------------------------------------

    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.abort()
            return
        self.last_active = time.monotonic()
        if not data:
            self._eof = True
            self._stop_reading()
            if not self.busy and not self._out:
                self.close()
            return
        self.buffer = self.buffer + data if self.buffer else data
        if self.busy:
            if len(self.buffer) > MAX_PENDING_BYTES:
                self._stop_reading()
            return
        self._serve()

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self.fd)

    def _resume_reading(self) -> None:
        if not self._reading and not self._eof and self.sock is not None:
            self._reading = True
            self._loop.add_reader(self.fd, self._readable)

    # -- answering -----------------------------------------------------------------------

    def _serve(self) -> None:
        """Answer every complete request in the buffer, in order."""
        while not self.busy and self.sock is not None and not self._handing_over:
            buffer = self.buffer
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._hand_over()
                elif self._eof:
                    self.close()
                return
            head = parse_head(buffer[:end])
            if head is None:
                self._hand_over()
                return
            if _MEDIA_PATH_RE.match(head.path) and "%" not in head.path:
                self.buffer = buffer[end + 4 :]
                self._media(head)
            elif head.path == HEALTH_PATH and not head.query:
                self.buffer = buffer[end + 4 :]
                self._write_reply(_Exchange(head, HEALTH_PATH), self.server.health)
            else:
                self._hand_over()
                return
            if self.server.closing and not self.busy:
                self.close()
                return
        if not self.busy:
            self._resume_reading()

    def _media(self, head: RequestHead) -> None:
        exchange = _Exchange(head, MEDIA_ROUTE_LABEL)
        service = self.server.service
        query_token = None
        if service.playback_secret is not None and head.query:
            query_token = _query_value(head.query, QUERY_PARAMETER)
        request = MediaRequest(head.method, head.path, head.fields, query_token)
        reply = service.answer_now(request)
        if reply is not None:
            if not _is_streamed(reply, head):
                self._write_reply(exchange, reply)
                return
            body = reply.body
            if isinstance(body, FileBody) and body.in_page_cache():
                self._start_file(exchange, reply, body)
                return
        self.busy = True
        token = current_request_id.set(exchange.request_id)  # the task's log lines carry it
        try:
            task = asyncio.ensure_future(self._answer_later(exchange, request, reply))
            self.server.tasks.add(task)
            task.add_done_callback(self.server.tasks.discard)
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
            body = reply.body
            if isinstance(body, FileBody) and self.sock is not None and body.in_page_cache():
                self._start_file(exchange, reply, body)  # goes on, and ends, by itself
                return
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
        self._done()

    def _done(self) -> None:
        """The answer in progress is sent: on to the next request."""
        self.busy = False
        self.last_active = time.monotonic()
        if self.sock is not None:
            self._serve()

    # -- files, with sendfile ------------------------------------------------------------

    def _start_file(self, exchange: _Exchange, reply: Reply, body: FileBody) -> None:
        """Send the head, then the file from the page cache as fast as the socket takes
        it: `sendfile` now, and again whenever the socket is writable (no task)."""
        self.busy = True
        keep_alive = self._keep_alive(exchange.head)
        head_bytes = self._head_bytes(exchange, reply, keep_alive)
        self._file = _FileSend(exchange, reply.status, body, len(head_bytes), keep_alive)
        self.write(head_bytes, more=True)
        if not self._out:
            self._continue_file()

    def _continue_file(self) -> None:
        job = self._file
        if job is None:
            return
        body = job.body
        try:
            while job.remaining > 0:
                sent = os.sendfile(self.fd, body.fd, job.offset, min(job.remaining, SENDFILE_STEP))
                if sent == 0:
                    log.warning("%s ended %d bytes early", body.key, job.remaining)
                    break
                job.offset += sent
                job.remaining -= sent
        except (BlockingIOError, InterruptedError):
            if not self._writing:
                self._writing = True
                self._loop.add_writer(self.fd, self._writable)
            return
        except OSError as exc:
            if exc.errno not in _GONE:
                log.warning("sending %s failed: %s", body.key, exc)
            self.abort()  # ends the job
            return
        self._end_file(job)

    def _end_file(self, job: _FileSend) -> None:
        self._file = None
        job.body.release()
        complete = job.remaining == 0
        if self._writing and not self._out:
            self._writing = False
            self._loop.remove_writer(self.fd)
        if not complete:
            self.abort()
        elif not job.keep_alive:
            self.close()
        status = job.status if complete else CLIENT_CLOSED
        self._answered(job.exchange, status, job.head_length + job.body.length - job.remaining)
        self._done()

    def _head_bytes(self, exchange: _Exchange, reply: Reply, keep_alive: bool) -> bytes:
        prefix = reply.fields.head(exchange.head.minor, reply.status, reply.length, keep_alive)
        return b"".join((
            prefix, self.server.date.get(), b"X-Request-Id: ", exchange.request_id.encode(),
            b"\r\n\r\n",
        ))  # fmt: skip

    def _keep_alive(self, head: RequestHead) -> bool:
        return head.keep_alive and not self.server.closing and not self._eof

    def _write_reply(self, exchange: _Exchange, reply: Reply) -> None:
        """A reply whose body (if any) is in memory: one send."""
        if self.sock is None:  # the client left while the answer was being decided
            self._answered(exchange, CLIENT_CLOSED, 0)
            return
        head = exchange.head
        keep_alive = self._keep_alive(head)
        head_bytes = self._head_bytes(exchange, reply, keep_alive)
        body = reply.body if head.method != "HEAD" else None
        sent = len(head_bytes)
        if body is None:
            self.write(head_bytes)
        else:
            assert isinstance(body, bytes | bytearray | memoryview)
            sent += len(body)
            if len(body) <= JOIN_BELOW:
                self.write(head_bytes + body)
            else:
                self.write_both(head_bytes, body)
        if not keep_alive:
            self.close()
        self._answered(exchange, reply.status, sent)

    async def _write_streamed(self, exchange: _Exchange, reply: Reply) -> None:
        """A reply whose body is sent step by step (a file, or a store stream)."""
        body = reply.body
        assert body is not None and not isinstance(body, bytes | bytearray | memoryview)
        if self.sock is None:
            await body.aclose()
            self._answered(exchange, CLIENT_CLOSED, 0)
            return
        keep_alive = self._keep_alive(exchange.head)
        head_bytes = self._head_bytes(exchange, reply, keep_alive)
        self.write(head_bytes, more=True)
        sink = ConnectionSink(self)
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

    # -- writing -------------------------------------------------------------------------

    def write(self, data: Bytes, *, more: bool = False) -> None:
        """Send `data` now, or queue what the socket does not take (in order). `more`:
        more follows at once (the kernel may hold this back to fill a packet)."""
        sock = self.sock
        if sock is None or not data:
            return
        if self._out:
            self._queue(memoryview(data))
            return
        try:
            sent = sock.send(data, socket.MSG_MORE if more else 0)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.abort()
            return
        if sent < len(data):
            self._queue(memoryview(data)[sent:])

    def write_both(self, first: Bytes, second: Bytes) -> None:
        """`first` then `second`, in one system call when the socket takes them."""
        sock = self.sock
        if sock is None:
            return
        if self._out:
            self._queue(memoryview(first))
            self._queue(memoryview(second))
            return
        try:
            sent = sock.sendmsg((first, second))
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.abort()
            return
        if sent < len(first):
            self._queue(memoryview(first)[sent:])
            self._queue(memoryview(second))
        elif sent < len(first) + len(second):
            self._queue(memoryview(second)[sent - len(first) :])

    def _queue(self, data: memoryview) -> None:
        self._out.append(data)
        self._out_bytes += len(data)
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        out = self._out
        try:
            while out:
                data = out[0]
                sent = sock.send(data)
                self._out_bytes -= sent
                if sent < len(data):
                    out[0] = data[sent:]
                    break
                out.popleft()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.abort()
            return
        if self._out_bytes <= DRAIN_BELOW:
            self._wake()
        if not out:
            if self._file is not None:
                self._continue_file()
                return
            self._writing = False
            self._loop.remove_writer(self.fd)
            self._flushed()

    def _wake(self) -> None:
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    async def drain(self, below: int = DRAIN_BELOW) -> None:
        """Wait until at most `below` bytes are queued; ConnectionResetError once closed."""
        while self._out_bytes > below:
            if self.sock is None:
                raise ConnectionResetError("the client went away")
            self._drain = self._loop.create_future()
            await self._drain
        if self.sock is None:
            raise ConnectionResetError("the client went away")

    async def writable(self) -> None:
        """Wait until the socket takes more bytes (after a send that would block)."""
        if self.sock is None:
            raise ConnectionResetError("the client went away")
        self._drain = self._loop.create_future()
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self.fd, self._writable)
        await self._drain
        if self.sock is None:
            raise ConnectionResetError("the client went away")

    async def sendfile(self, fd: int, offset: int, count: int, read_timeout: float) -> int:
        """`count` bytes of file `fd` from `offset`, zero-copy while they are in the page
        cache; bytes that are not are read in a worker thread (the loop never waits for
        the disk). Returns the bytes sent (fewer: the file ended)."""
        await self.drain(0)
        total = 0
        while count > 0:
            sock = self.sock
            if sock is None:
                raise ConnectionResetError("the client went away")
            step = min(count, SENDFILE_STEP)
            if not resident(fd, offset, step):
                async with asyncio.timeout(read_timeout):
                    data = await asyncio.to_thread(read_waiting, fd, offset, min(step, CHUNK_SIZE))
                if not data:
                    return total
                self.write(data)
                await self.drain(0)
                sent = len(data)
            else:
                try:
                    sent = os.sendfile(self.fd, fd, offset, step)
                except (BlockingIOError, InterruptedError):
                    await self.writable()
                    continue
                except OSError as exc:
                    if exc.errno in _GONE:
                        self.abort()
                        raise ConnectionResetError("the client went away") from exc
                    raise
                if sent == 0:
                    return total
            total += sent
            offset += sent
            count -= sent
        return total

    def _flushed(self) -> None:
        """Everything queued went out."""
        if self._handing_over:
            self._complete_hand_over()
        elif self._closing:
            self._close_now()

    # -- handing over and closing ------------------------------------------------------

    def _hand_over(self) -> None:
        """aiohttp takes this connection (and the bytes not answered yet) from here on."""
        if self.sock is None or self._handing_over:
            return
        self._handing_over = True
        self._stop_reading()
        if not self._out:
            self._complete_hand_over()

    def _complete_hand_over(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.fd)
        self.server.forget(self)
        self.server.handed_over += 1
        protocol = self.server.handover()
        buffer, self.buffer = self.buffer, b""
        adopt = _Adopt(protocol, buffer)
        task = asyncio.ensure_future(self._loop.connect_accepted_socket(lambda: adopt, sock))
        task.add_done_callback(lambda done: _log_failed_adoption(done, sock))

    def close(self) -> None:
        """Close once queued output is sent."""
        if self.sock is None:
            return
        if self._out:
            self._closing = True
            self._stop_reading()
            return
        self._close_now()

    def abort(self) -> None:
        """Close now, whatever is queued."""
        self._out.clear()
        self._out_bytes = 0
        self._close_now()

    def _close_now(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self.fd)
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.fd)
        sock.close()
        self._wake()
        job = self._file
        if job is not None:  # the client went away in the middle of a file
            self._end_file(job)
        self.server.forget(self)


class _FileSend:
    """A file body on its way out with sendfile."""

    __slots__ = ("body", "exchange", "head_length", "keep_alive", "offset", "remaining",
                 "status")  # fmt: skip

    def __init__(
        self,
        exchange: _Exchange,
        status: int,
        body: FileBody,
        head_length: int,
        keep_alive: bool,
    ) -> None:
        self.exchange = exchange
        self.status = status
        self.body = body
        self.head_length = head_length
        self.keep_alive = keep_alive
        self.offset = body.offset
        self.remaining = body.length


class ConnectionSink:
    """A FastConnection as the Sink of a streamed body (and a sendfile target)."""

    def __init__(self, connection: FastConnection) -> None:
        self._connection = connection
        self.sent = 0

    async def write(self, data: Bytes) -> None:
        connection = self._connection
        if not connection.open:
            raise ConnectionResetError("the client went away")
        connection.write(data)
        self.sent += len(data)
        await connection.drain()

    async def sendfile(self, fd: int, offset: int, count: int, read_timeout: float) -> int:
        sent = await self._connection.sendfile(fd, offset, count, read_timeout)
        self.sent += sent
        return sent

    def abort(self) -> None:
        self._connection.abort()


class _Adopt(asyncio.Protocol):
    """Hands a connection's transport and unanswered bytes to aiohttp's protocol."""

    def __init__(self, protocol: asyncio.Protocol, buffer: bytes) -> None:
        self._protocol = protocol
        self._buffer = buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.set_protocol(self._protocol)
        self._protocol.connection_made(transport)
        if self._buffer:
            self._protocol.data_received(self._buffer)


def _log_failed_adoption(done: asyncio.Future[Any], sock: socket.socket) -> None:
    if done.cancelled():
        sock.close()
        return
    exc = done.exception()
    if exc is not None:
        log.warning("could not hand a connection to aiohttp: %r", exc)
        sock.close()


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

