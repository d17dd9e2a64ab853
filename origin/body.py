"""Sending an object's bytes once the headers are decided.

A `Body` writes itself to a `Sink`, the one thing both HTTP servers of the origin provide:
the aiohttp handler (`origin.handlers`) and the fast HTTP/1.1 server (`origin.fastserver`).
Bodies: bytes already in memory (`MemoryBody`), a range of a cached open file
(`origin.files.FileBody`), or a store stream read chunk by chunk (`StreamedBody`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiohttp import web

from vodstack.errors import StoreUnavailable
from vodstack.store import ObjectStream

log = logging.getLogger(__name__)

Bytes = bytes | bytearray | memoryview


class Sink(Protocol):
    """Where a body goes: a prepared response whose headers are already sent."""

    async def write(self, data: Bytes) -> None:
        """Send `data`, waiting while the client is slow; ConnectionError once it is gone."""

    def abort(self) -> None:
        """End the response short of its Content-Length: the only honest signal left once
        headers are sent that the body is not whole (RFC 9112 §6.3)."""


class Body(Protocol):
    """The bytes of one response body, sent at most once."""

    async def send(self, sink: Sink) -> None:
        """Write every byte to `sink` (or abort it), then release what was held."""

    async def aclose(self) -> None:
        """Release the body without sending it (idempotent)."""


def abort_connection(request: web.Request) -> None:
    """Close the connection of an aiohttp request whose body cannot be completed."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.close()


class ResponseSink:
    """An aiohttp StreamResponse, prepared, as a Sink."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response

    async def write(self, data: Bytes) -> None:
        await self._response.write(data)

    def abort(self) -> None:
        abort_connection(self._request)


class MemoryBody:
    """Bytes already in memory (a cached small object, or a slice of one)."""

    def __init__(self, data: Bytes) -> None:
        self.data = data

    async def send(self, sink: Sink) -> None:
        try:
            await sink.write(self.data)
        except ConnectionError:
            log.debug("client went away during a body from memory")

    async def aclose(self) -> None:
        return None


class StreamedBody:
    """An ObjectStream sent chunk by chunk; each chunk read is bounded by `chunk_timeout`."""

    def __init__(self, stream: ObjectStream, length: int, chunk_timeout: float) -> None:
        self._stream = stream
        self._length = length
        self._chunk_timeout = chunk_timeout

    async def send(self, sink: Sink) -> None:
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
                    sink.abort()
                    return
                chunk = chunk[: self._length - sent]
                try:
                    await sink.write(chunk)
                except ConnectionError:  # reset, or lost while waiting to drain
                    log.debug("client went away while %s was being sent", key)
                    return
                sent += len(chunk)
            if sent < self._length:
                log.warning("%s ended after %d of %d bytes", key, sent, self._length)
                sink.abort()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(self._chunk_timeout):
                await self._stream.aclose()
        except (TimeoutError, OSError, StoreUnavailable) as exc:
            log.debug("closing the stream of %s failed: %r", self._stream.info.key, exc)
