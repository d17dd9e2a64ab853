"""Open local files kept for serving (like nginx's `open_file_cache`), and bodies read
from them without a thread hop per request.

An `OpenFile` is one file descriptor shared by the cache entry and every response being
sent from it; it is closed when the last of them lets go. Since the local store replaces
objects by renaming a new file into place, an open descriptor always reads the bytes of
the object its entry describes, even after a replacement or a deletion: headers and bytes
of one response can never disagree.

Reads use `preadv2(RWF_NOWAIT)`, which copies from the page cache and refuses rather than
wait for the disk; only then does a chunk go to a worker thread. Hot segments are in the
page cache, so a segment is sent with no thread hop at all, while a cold one never stalls
the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from typing import Protocol, runtime_checkable

from origin.body import Sink

log = logging.getLogger(__name__)

CHUNK_SIZE = 512 * 1024
"""Bytes read and written per step: large enough that a 2 MB segment takes a few steps."""

_NOWAIT = getattr(os, "RWF_NOWAIT", None)


class OpenFile:
    """A file descriptor with a count of holders; closed when the count drops to zero."""

    __slots__ = ("_holders", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._holders = 1  # the cache entry that opened it

    def acquire(self) -> OpenFile:
        if self._holders <= 0:
            raise RuntimeError("acquire on a closed file")
        self._holders += 1
        return self

    def release(self) -> None:
        self._holders -= 1
        if self._holders == 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)

    @property
    def closed(self) -> bool:
        return self._holders <= 0


class _NoWait:
    """Whether this kernel and filesystem take RWF_NOWAIT (found out at the first read)."""

    supported = _NOWAIT is not None


def read_cached(fd: int, offset: int, length: int) -> bytearray | None:
    """Up to `length` bytes at `offset` if (the first of) them are in the page cache, else
    None; never waits for the disk. A short result may end where the cached part ends."""
    if not _NoWait.supported:
        return None
    buffer = bytearray(length)
    try:
        got = os.preadv(fd, [buffer], offset, _NOWAIT)  # type: ignore[arg-type]
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            _NoWait.supported = False  # e.g. a filesystem without non-blocking reads
            return None
        raise
    if got == 0:
        return None  # the end of the file, or nothing cached: the waiting read tells which
    if got < length:
        del buffer[got:]
    return buffer


def resident(fd: int, offset: int, length: int) -> bool:
    """Whether the first and last byte of the range are in the page cache (RWF_NOWAIT
    reads of one byte each). A segment is written once and read whole, so its pages come
    and go together; one evicted only in its middle can still make a `sendfile` wait for
    the disk (as nginx's `sendfile on` can)."""
    if not _NoWait.supported or length <= 0:
        return False
    probe = bytearray(1)
    try:
        return (
            os.preadv(fd, [probe], offset, _NOWAIT) == 1  # type: ignore[arg-type]
            and os.preadv(fd, [probe], offset + length - 1, _NOWAIT) == 1  # type: ignore[arg-type]
        )
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            _NoWait.supported = False
            return False
        raise


def read_waiting(fd: int, offset: int, length: int) -> bytes:
    """A plain read (in a worker thread: it may wait for the disk)."""
    return os.pread(fd, length, offset)


@runtime_checkable
class FileSink(Sink, Protocol):
    """A sink that can send file bytes itself (the fast server: `sendfile`)."""

    async def sendfile(self, fd: int, offset: int, count: int, read_timeout: float) -> int:
        """Send `count` bytes of `fd` from `offset`; the bytes sent (fewer: end of file)."""


class FileBody:
    """`length` bytes from `offset` of an open file; the body holds the file until sent."""

    def __init__(
        self, file: OpenFile, offset: int, length: int, key: str, read_timeout: float
    ) -> None:
        self._file: OpenFile | None = file.acquire()
        self._offset = offset
        self._length = length
        self._key = key
        self._read_timeout = read_timeout

    @property
    def fd(self) -> int:
        assert self._file is not None
        return self._file.fd

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def length(self) -> int:
        return self._length

    @property
    def key(self) -> str:
        return self._key

    def in_page_cache(self) -> bool:
        """Whether the bytes can be sent now without waiting for the disk."""
        return self._file is not None and resident(self._file.fd, self._offset, self._length)

    async def send(self, sink: Sink) -> None:
        file = self._file
        if file is None:
            raise RuntimeError("body already sent")
        offset, remaining = self._offset, self._length
        try:
            if isinstance(sink, FileSink):
                await self._sendfile(sink, file)
                return
            while remaining > 0:
                want = min(CHUNK_SIZE, remaining)
                chunk: bytes | bytearray | None = read_cached(file.fd, offset, want)
                if chunk is None:
                    try:
                        async with asyncio.timeout(self._read_timeout):
                            chunk = await asyncio.to_thread(read_waiting, file.fd, offset, want)
                    except (TimeoutError, OSError) as exc:
                        log.warning("reading %s failed after %d bytes: %r",
                                    self._key, offset - self._offset, exc)  # fmt: skip
                        sink.abort()
                        return
                if not chunk:
                    log.warning("%s ended after %d of %d bytes",
                                self._key, offset - self._offset, self._length)  # fmt: skip
                    sink.abort()
                    return
                try:
                    await sink.write(chunk)
                except ConnectionError:
                    log.debug("client went away while %s was being sent", self._key)
                    return
                offset += len(chunk)
                remaining -= len(chunk)
        finally:
            await self.aclose()

    async def _sendfile(self, sink: FileSink, file: OpenFile) -> None:
        try:
            sent = await sink.sendfile(file.fd, self._offset, self._length, self._read_timeout)
        except ConnectionError:
            log.debug("client went away while %s was being sent", self._key)
            return
        except (TimeoutError, OSError) as exc:
            log.warning("sending %s failed: %r", self._key, exc)
            sink.abort()
            return
        if sent < self._length:
            log.warning("%s ended after %d of %d bytes", self._key, sent, self._length)
            sink.abort()

    async def aclose(self) -> None:
        self.release()

    def release(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.release()
