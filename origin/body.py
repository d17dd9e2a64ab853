"""Sending an object's bytes once the headers are decided.

`Body` is the seam for how bytes reach the socket: today a store stream read chunk by
chunk; a memory copy of a hot playlist or a sendfile of a local file can be further Body
implementations without the handler changing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiohttp import web

from vodstack.errors import StoreUnavailable
from vodstack.store import ObjectStream

log = logging.getLogger(__name__)


class Body(Protocol):
    """The bytes of one response body, sent at most once."""

    async def send(self, request: web.Request, response: web.StreamResponse) -> None:
        """Write every byte to the prepared `response`, then release what was held."""

    async def aclose(self) -> None:
        """Release the body without sending it (idempotent)."""


def abort_connection(request: web.Request) -> None:
    """End a response whose body cannot be completed: closing the connection is the only
    way to tell the client the bytes it received are not the whole body (RFC 9112 §6.3)."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.close()


class StreamedBody:
    """An ObjectStream sent chunk by chunk; each chunk read is bounded by `chunk_timeout`."""

    def __init__(self, stream: ObjectStream, length: int, chunk_timeout: float) -> None:
        self._stream = stream
        self._length = length
        self._chunk_timeout = chunk_timeout

    async def send(self, request: web.Request, response: web.StreamResponse) -> None:
        key = self._stream.info.key
        sent = 0
        chunks = aiter(self._stream)
        try:
            while sent < self._length:
                try:
                    async with asyncio.timeout(self._chunk_timeout):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except (TimeoutError, OSError, StoreUnavailable) as exc:
                    log.warning("store failed while sending %s after %d bytes: %r", key, sent, exc)
                    abort_connection(request)
                    return
                chunk = chunk[: self._length - sent]
                try:
                    await response.write(chunk)
                except ConnectionError:  # reset, or lost while waiting to drain
                    log.debug("client went away while %s was being sent", key)
                    return
                sent += len(chunk)
            if sent < self._length:
                log.warning("%s ended after %d of %d bytes", key, sent, self._length)
                abort_connection(request)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(self._chunk_timeout):
                await self._stream.aclose()
        except (TimeoutError, OSError, StoreUnavailable) as exc:
            log.debug("closing the stream of %s failed: %r", self._stream.info.key, exc)
