"""Reading one PATCH (or creation-with-upload) body for the store, chunk by chunk.

What happens to the bytes depends on how the body ends:

- complete, no checksum or a matching one: all of it is appended;
- checksum mismatch: `ChecksumMismatch` is raised at the end, so the store keeps none of
  it (§ Checksum: the server MUST discard the chunk);
- interrupted (connection lost, no data for `IDLE_TIMEOUT`, or the client asked for the
  lock from a newer request): the iteration just ends, so what arrived is kept
  (§ Core Protocol: store as much of the received data as possible) — unless a checksum
  was sent, which cannot be verified on part of a body: then `Interrupted` is raised;
- more bytes than the upload may take: `BodyTooLarge`, nothing kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ingest.tus.protocol import Checksum

IDLE_TIMEOUT = 30.0
"""§ Core Protocol: servers SHOULD use a 30 second timeout."""
POLL = 1.0
"""How often an idle read checks whether a newer request wants the upload."""


class ChecksumMismatch(Exception):
    pass


class Interrupted(Exception):
    pass


class BodyTooLarge(Exception):
    pass


class BodyReader:
    def __init__(
        self,
        request: web.Request,
        *,
        limit: int,
        checksum: Checksum | None,
        unlock_requested: Callable[[], Awaitable[bool]],
        idle_timeout: float = IDLE_TIMEOUT,
        poll: float = POLL,
    ) -> None:
        self._request = request
        self._limit = limit
        self._checksum = checksum
        self._unlock_requested = unlock_requested
        self._idle_timeout = idle_timeout
        self._poll = poll
        self.received = 0
        self.interrupted: str | None = None

    async def _next(self) -> bytes | None:
        """The next piece of the body; None when it ended or was interrupted."""
        idle = 0.0
        while True:
            try:
                chunk = await asyncio.wait_for(self._request.content.readany(), self._poll)
            except TimeoutError:
                idle += self._poll
                if idle >= self._idle_timeout:
                    self.interrupted = f"no data for {self._idle_timeout:g}s"
                    return None
                if await self._unlock_requested():
                    self.interrupted = "a newer request took over the upload"
                    return None
                continue
            except (ConnectionError, aiohttp.ClientPayloadError, HttpProcessingError) as exc:
                self.interrupted = f"connection lost ({exc.__class__.__name__})"
                return None
            if not chunk:
                expected = self._request.content_length
                if expected is not None and self.received < expected:
                    self.interrupted = "the body ended early"
                return None
            return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        hasher = self._checksum.hasher() if self._checksum is not None else None
        while (chunk := await self._next()) is not None:
            self.received += len(chunk)
            if self.received > self._limit:
                raise BodyTooLarge(self._limit)
            if hasher is not None:
                hasher.update(chunk)
            yield chunk
        if self._checksum is None:
            return
        if self.interrupted is not None:
            raise Interrupted(self.interrupted)
        assert hasher is not None
        if hasher.digest() != self._checksum.digest:
            raise ChecksumMismatch(self._checksum.algorithm)
