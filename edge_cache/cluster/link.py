"""A worker's end of the control channel: what it tells the other processes and asks them.

- stored responses are copied to the others (`stored`, a `StoreListener` hook); copies
  that arrive are kept unless a purge forbids them (`edge_cache.cluster.purges`) or a newer
  response is already stored;
- purges and invalidations reach every process, numbered by the supervisor (`removed`);
  `tally()` gives what the others removed for the purge just sent;
- `ask(what)` gathers an answer from every other process (stats, metrics).

Copies are an optimisation and are dropped (counted) when the channel is backed up;
purges never are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from edge_cache.cluster import frames, replicas
from edge_cache.cluster.purges import PurgeLog
from edge_cache.proxy import EdgeProxy
from edge_cache.store import Entry

log = logging.getLogger(__name__)

REPLICA_BACKLOG = 2 * 1024 * 1024
"""Bytes waiting to go to the supervisor beyond which copies are dropped."""
ASK_TIMEOUT = 5.0
"""Longest wait for the other processes' answers (the supervisor answers after 3 s)."""

Answerer = Callable[[Any], Awaitable[Any]]


class SiblingLink:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        index: int,
        count: int,
        proxy: EdgeProxy,
        seen: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.index = index
        self.count = count
        """Worker processes of this edge."""
        self.proxy = proxy
        self.purges = PurgeLog(seen=seen)
        self.answerers: dict[str, Answerer] = {}
        self._next_request = 0
        self._waiting: dict[int, asyncio.Future[list[Any]]] = {}
        self._last_tally: asyncio.Future[list[Any]] | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the store's listener ---------------------------------------------------------

    def stored(self, entry: Entry) -> None:
        if self._closed or self.count < 2:
            return
        transport = self.writer.transport
        if transport.is_closing() or transport.get_write_buffer_size() > REPLICA_BACKLOG:
            self.proxy.stats["copies_dropped"] += 1
            return
        self.writer.writelines(replicas.encode(self.purges.seen, entry))
        self.proxy.stats["copies_sent"] += 1

    def removed(self, target: str, is_prefix: bool) -> None:
        if self._closed:
            return
        self.purges.asked(target, is_prefix)
        self._last_tally = self._send_request("purge", target, is_prefix)

    # -- requests to the others -------------------------------------------------------

    def _send_request(self, name: str, *fields: Any) -> asyncio.Future[list[Any]]:
        self._next_request += 1
        request = self._next_request
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        self.writer.write(frames.message(name, request, *fields))
        return future

    async def tally(self) -> list[Any]:
        """What each other process removed for the purge sent last (`removed`)."""
        future, self._last_tally = self._last_tally, None
        if future is None:
            return []
        return await _within(future)

    async def ask(self, what: str, payload: Any = None) -> list[Any]:
        """Every other process's answer to `what` (those that answered in time)."""
        if self._closed or self.count < 2:
            return []
        return await _within(self._send_request("ask", what, payload))

    # -- what comes in ----------------------------------------------------------------

    async def run(self) -> None:
        """Read the channel until the supervisor closes it (then the worker stops)."""
        try:
            while True:
                kind, pieces = await frames.read_frame(self.reader)
                if kind == frames.REPLICA:
                    if pieces[3] == frames.WHOLE:  # else its sender died while sending it
                        self._replica(pieces[1], pieces[2])
                else:
                    self._message(frames.read_message(pieces[0]))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.close()

    def _replica(self, meta: bytes, body: bytes) -> None:
        base, entry = replicas.decode(meta, body)
        store = self.proxy.store
        stats = self.proxy.stats
        if not self.purges.admits(entry.key, base):
            stats["copies_refused"] += 1
            return
        existing = store.peek(entry.variant)
        if existing is not None and existing.facts.response_time >= entry.facts.response_time:
            return
        if store.put(entry, share=False):
            stats["copies_kept"] += 1

    def _message(self, fields: tuple[Any, ...]) -> None:
        name = fields[0]
        if name == "purged":
            _, seq, target, is_prefix, origin, answer_to = fields
            mine = origin == self.index
            removed = 0
            if not mine:
                store = self.proxy.store
                if is_prefix:
                    removed = store.purge_prefix(target, share=False)
                else:
                    removed = store.remove_key(target, share=False)
                self.proxy.stats["purged"] += removed
            self.purges.numbered(seq, target, is_prefix, mine=mine)
            if answer_to is not None:
                self.writer.write(frames.message("answer", answer_to, removed))
        elif name == "answers":
            _, request, results = fields
            future = self._waiting.pop(request, None)
            if future is not None and not future.done():
                future.set_result(list(results))
        elif name == "ask":
            _, answer_to, what, payload = fields
            task = asyncio.create_task(self._answer(answer_to, what, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            log.warning("unknown control message %r", name)

    async def _answer(self, answer_to: int, what: str, payload: Any) -> None:
        answerer = self.answerers.get(what)
        result: Any = None
        if answerer is not None:
            try:
                result = await answerer(payload)
            except Exception:
                log.exception("answering %s for another edge process failed", what)
        if not self._closed:
            self.writer.write(frames.message("answer", answer_to, result))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_result([])
        self._waiting.clear()
        with contextlib.suppress(Exception):
            self.writer.close()

    @property
    def closed(self) -> bool:
        return self._closed


async def _within(future: asyncio.Future[list[Any]]) -> list[Any]:
    try:
        return await asyncio.wait_for(asyncio.shield(future), ASK_TIMEOUT)
    except TimeoutError:
        return []
