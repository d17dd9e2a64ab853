"""What the origin remembers about objects: small ones in memory, large local ones as open
files, the metadata of large remote ones; each trusted for the interval of
`origin.freshness` after the store last vouched for it.

- `fresh(key)` answers from memory with no I/O at all: the fast path of every request.
- `get(key)` loads or re-checks an entry, one store call per key however many requests
  wait for it. On the local store a re-check is one `stat` of the data file (compared with
  the file the entry holds); elsewhere a HEAD compared by ETag.
- `fetch(key)` is a plain GET of a whole remote object: the answer carries the metadata,
  so no HEAD goes before it.

Every store call goes through the breaker (`origin.breaker`), so failures count and an
open breaker answers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from origin.body import Body, MemoryBody, StreamedBody
from origin.breaker import BreakerSource
from origin.files import FileBody, OpenFile
from origin.freshness import CachePolicy
from origin.lru import BoundedLRU, Budget
from origin.replies import ObjectFields, Reply
from origin.source import ObjectChanged
from vodstack.errors import StoreUnavailable
from vodstack.metrics.store import StoreMetrics
from vodstack.store import ObjectInfo, ObjectNotFound, ObjectStream
from vodstack.store.local import FileStamp, LocalStore

log = logging.getLogger(__name__)

ENTRY_OVERHEAD = 512
"""Bytes counted per in-memory object beyond its body (entry, info, header fields)."""

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class Entry:
    info: ObjectInfo
    stamp: object
    """What a re-check compares: a local file's `FileStamp`, or the ETag."""
    fresh_until: float
    data: bytes | None = None
    """The whole object, when it is small."""
    file: OpenFile | None = None
    """An open local file, when it is large."""
    _fields: ObjectFields | None = None
    _whole: tuple[Reply, Reply] | None = None

    @property
    def memory_cost(self) -> int:
        return len(self.data) + ENTRY_OVERHEAD if self.data is not None else 0

    @property
    def file_cost(self) -> int:
        return 1 if self.file is not None else 0

    @property
    def fields(self) -> ObjectFields:
        fields = self._fields
        if fields is None:
            fields = self._fields = ObjectFields.of(self.info)
        return fields

    def whole(self, get: bool) -> Reply:
        """The 200 of a GET (`get`) or HEAD of the whole object kept in memory, made once
        (senders never change a reply)."""
        whole = self._whole
        if whole is None:
            assert self.data is not None
            ok, size = self.fields.ok, self.info.size
            whole = self._whole = (Reply(200, ok, None, size), Reply(200, ok, self.data, size))
        return whole[get]


class MediaObjects:
    def __init__(
        self,
        source: BreakerSource,
        policy: CachePolicy,
        *,
        timeout: float,
        local: LocalStore | None = None,
        metrics: StoreMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.policy = policy
        self.timeout = timeout
        self.local = local
        """The local store, when the origin serves one: files are opened directly."""
        self.metrics = metrics
        """Where those direct calls are recorded (as `head` and `open`, like the store's)."""
        self._clock = clock
        self._entries: BoundedLRU[Entry] = BoundedLRU(
            Budget(policy.memory_bytes, policy.open_files, policy.max_entries), self._evicted
        )
        self._loading: dict[str, asyncio.Future[Entry | None]] = {}
        self.hits = 0
        self.loads = 0
        self.rechecks = 0

    # -- answers without I/O ---------------------------------------------------------------

    def fresh(self, key: str) -> Entry | None:
        """The entry of `key` if the store vouched for it recently enough, else None."""
        entry = self._entries.peek(key)
        if entry is None or entry.fresh_until <= self._clock():
            return None
        self._entries.touch(key)
        self.hits += 1
        return entry

    def body(self, entry: Entry, start: int, length: int) -> Body | None:
        """The bytes of a memory or file entry (None for a remote object: `open` it)."""
        if entry.data is not None:
            data = entry.data
            return MemoryBody(data if start == 0 and length == len(data) else
                              memoryview(data)[start : start + length])  # fmt: skip
        if entry.file is not None:
            return FileBody(entry.file, start, length, entry.info.key, self.timeout)
        return None

    # -- answers with I/O ------------------------------------------------------------------

    async def get(self, key: str) -> Entry | None:
        """A fresh entry for `key`, checked or loaded now if need be; None if no object."""
        entry = self.fresh(key)
        if entry is not None:
            return entry
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._refresh(key))
            self._loading[key] = pending
            pending.add_done_callback(lambda done: self._loaded(key, done))
        return await asyncio.shield(pending)

    def _loaded(self, key: str, done: asyncio.Future[Entry | None]) -> None:
        self._loading.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone away

    async def open(self, entry: Entry, start: int, length: int) -> Body:
        """The bytes of any entry; a remote object is opened (ObjectChanged if it is no
        longer the object of `entry`: decide again)."""
        body = self.body(entry, start, length)
        if body is not None:
            return body
        try:
            body = await self.source.open(entry.info, start, length)
        except ObjectChanged:
            self.forget(entry.info.key, entry)
            raise
        self._vouched(entry)  # the store just answered with the same ETag
        return body

    async def fetch(self, key: str) -> tuple[Entry | None, Body | None]:
        """A plain GET of a whole remote object: (entry, None) when it is small and now in
        memory, (entry, body of the whole object) when large, (None, None) when missing."""
        started = self._clock()
        fetched = await self.source.fetch(key)
        if fetched is None:
            self.forget(key)
            return None, None
        info, stream = fetched
        self.loads += 1
        if self.policy.fits_in_memory(info.size):
            data = await self._read_all(stream, info.size)
            entry = self._remember(key, info, info.etag, started, data=data)
            return entry, None
        entry = self._remember(key, info, info.etag, started)
        return entry, StreamedBody(stream, info.size, self.timeout)

    def forget(self, key: str, entry: Entry | None = None) -> None:
        """Drop the entry of `key` (only if it is still `entry`, when given)."""
        current = self._entries.peek(key)
        if current is not None and (entry is None or current is entry):
            self._entries.pop(key)

    def forget_prefix(self, prefix: str) -> int:
        """Drop every entry whose key starts with `prefix` (a deleted video's); how many."""
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            self._entries.pop(key)
        return len(doomed)

    def close(self) -> None:
        """Release every entry (open files close once their last response is sent)."""
        self._entries.clear()

    @property
    def memory_bytes(self) -> int:
        return self._entries.memory_bytes

    @property
    def open_files(self) -> int:
        return self._entries.files

    def __len__(self) -> int:
        return len(self._entries)

    # -- loading and re-checking -----------------------------------------------------------

    async def _refresh(self, key: str) -> Entry | None:
        old = self._entries.peek(key)
        started = self._clock()
        if old is not None:
            self.rechecks += 1
            stamp = await self._current_stamp(key)
            if stamp is None:
                self.forget(key, old)
                return None
            if stamp == old.stamp:
                self._vouched(old, started)
                return old
        self.loads += 1
        if self.local is not None:
            return await self._load_local(key, started)
        return await self._load_remote(key, started)

    async def _current_stamp(self, key: str) -> object:
        if self.local is not None:
            return await self._in_thread(self.local.stamp_sync, key, what="head")
        info = await self.source.resolve(key)
        return None if info is None else info.etag

    async def _load_local(self, key: str, started: float) -> Entry | None:
        loaded = await self._in_thread(self._open_local_sync, key, what="open")
        if loaded is None:
            self.forget(key)
            return None
        info, stamp, data, fd = loaded
        file = OpenFile(fd) if fd is not None else None
        return self._remember(key, info, stamp, started, data=data, file=file)

    def _open_local_sync(
        self, key: str
    ) -> tuple[ObjectInfo, FileStamp, bytes | None, int | None] | None:
        """Blocking (in a worker thread): open the data file, and read it whole if small."""
        assert self.local is not None
        try:
            fd, info, stamp = self.local.open_fd_sync(key)
        except ObjectNotFound:
            return None
        if not self.policy.fits_in_memory(info.size):
            return info, stamp, None, fd
        try:
            data = os.pread(fd, info.size, 0)
        finally:
            os.close(fd)
        if len(data) != info.size:
            raise StoreUnavailable(f"{key} changed size while it was read")
        return info, stamp, data, None

    async def _load_remote(self, key: str, started: float) -> Entry | None:
        info = await self.source.resolve(key)
        if info is None:
            self.forget(key)
            return None
        data = None
        if self.policy.fits_in_memory(info.size):
            body = await self.source.open(info, 0, info.size)  # ObjectChanged: decide again
            data = await _collect(body)
        return self._remember(key, info, info.etag, started, data=data)

    async def _read_all(self, stream: ObjectStream, size: int) -> bytes:
        """The `size` bytes of a small object (not asking the stream for more after them)."""
        chunks = bytearray()
        try:
            async with asyncio.timeout(self.timeout):
                reading = aiter(stream)
                while len(chunks) < size:
                    chunk = await anext(reading, b"")
                    if not chunk:
                        raise StoreUnavailable(f"{stream.info.key} ended early")
                    chunks += chunk
        except TimeoutError:
            raise StoreUnavailable(
                f"no answer within {self.timeout:g}s reading {stream.info.key}"
            ) from None
        finally:
            await stream.aclose()
        return bytes(chunks)

    def _remember(
        self,
        key: str,
        info: ObjectInfo,
        stamp: object,
        started: float,
        *,
        data: bytes | None = None,
        file: OpenFile | None = None,
    ) -> Entry:
        entry = Entry(info, stamp, started + self.policy.interval(key), data=data, file=file)
        if not self._entries.put(key, entry) and file is not None:
            # No room for open files at all: this answer streams from the store instead.
            entry.file = None
            file.release()
        return entry

    def _vouched(self, entry: Entry, started: float | None = None) -> None:
        checked = self._clock() if started is None else started
        entry.fresh_until = max(entry.fresh_until, checked + self.policy.interval(entry.info.key))

    @staticmethod
    def _evicted(_key: str, entry: Entry) -> None:
        if entry.file is not None:
            entry.file.release()

    async def _in_thread(self, function: Callable[[str], T], key: str, *, what: str) -> T:
        """`function(key)` in a worker thread, through the breaker, within the timeout; a
        descriptor opened by a call that timed out is closed when the call ends."""

        async def call() -> T:
            started = time.perf_counter()
            failure: BaseException | None = None
            future = asyncio.ensure_future(asyncio.to_thread(function, key))
            try:
                async with asyncio.timeout(self.timeout):
                    return await asyncio.shield(future)
            except TimeoutError as exc:
                failure = exc
                future.add_done_callback(_close_late_result)
                raise StoreUnavailable(
                    f"no answer within {self.timeout:g}s to {what} {key}"
                ) from None
            except OSError as exc:
                failure = exc
                raise StoreUnavailable(f"{what} {key}: {exc}") from exc
            except BaseException as exc:
                failure = exc
                if isinstance(exc, asyncio.CancelledError):
                    future.add_done_callback(_close_late_result)
                raise
            finally:
                if self.metrics is not None:  # as the metered store records its calls
                    self.metrics.observe(what, time.perf_counter() - started, failure)

        return await self.source.guarded(call)


def _close_late_result(future: asyncio.Future[Any]) -> None:
    """A local open that finished after its caller gave up: close what it opened."""
    if future.cancelled() or future.exception() is not None:
        return
    result = future.result()
    if isinstance(result, tuple) and len(result) == 4 and isinstance(result[3], int):
        with contextlib.suppress(OSError):
            os.close(result[3])


async def _collect(body: Body) -> bytes:
    """Every byte of a (small) body, gathered in memory."""
    collected = _Collector()
    await body.send(collected)
    if collected.aborted:
        raise StoreUnavailable("the store stopped sending")
    return bytes(collected.data)


class _Collector:
    def __init__(self) -> None:
        self.data = bytearray()
        self.aborted = False

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def abort(self) -> None:
        self.aborted = True
