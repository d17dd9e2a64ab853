"""One HTTP GET as a player makes it: timed, optionally held to the player's bandwidth."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from vodstack.loadtest.clock import Deadline
from vodstack.loadtest.playlists import ByteRange
from vodstack.loadtest.records import Fetched, ObjectKind, Recorder

CHUNK_SIZE = 64 * 1024


def cache_state(value: str | None) -> str | None:
    """`X-Cache: HIT from edge-1` → `HIT`."""
    if not value:
        return None
    words = value.replace(",", " ").split()
    return words[0].upper() if words else None


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect failed"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated body"
    return type(exc).__name__


class Fetcher:
    """GETs through one shared connection pool, each recorded in the Recorder.

    `timeout` bounds the wait for the response headers and for each read of the body.
    A bandwidth limit is kept by pausing between body reads (TCP flow control then slows
    the server's sends, as a slow link would); it is lifted once the deadline passes so a
    test ends promptly.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        recorder: Recorder,
        deadline: Deadline,
        *,
        timeout: float,
    ) -> None:
        self.http = http
        self.recorder = recorder
        self.deadline = deadline
        self.timeout = timeout

    async def get(
        self,
        url: str,
        kind: ObjectKind,
        *,
        keep_body: bool = False,
        link_bps: float | None = None,
        byterange: ByteRange | None = None,
    ) -> tuple[Fetched, bytes]:
        headers = {"Range": byterange.header} if byterange else None
        started = time.monotonic()
        first_byte = 0.0
        size = 0
        parts: list[bytes] = []
        status: int | None = None
        cache: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.http.get(url, headers=headers)
            async with response:
                first_byte = time.monotonic() - started
                status = response.status
                cache = cache_state(response.headers.get("X-Cache"))
                body_started = time.monotonic()
                async for chunk in response.content.iter_chunked(CHUNK_SIZE):
                    size += len(chunk)
                    if keep_body:
                        parts.append(chunk)
                    if link_bps is not None and not self.deadline.passed:
                        due = body_started + size * 8 / link_bps
                        if due > time.monotonic():
                            await self.deadline.sleep_until(due)
        except (aiohttp.ClientError, TimeoutError) as exc:
            fetched = Fetched(
                kind, None, size, first_byte, time.monotonic() - started, cache,
                failure_reason(exc),
            )  # fmt: skip
            self.recorder.request(fetched)
            return fetched, b""
        fetched = Fetched(kind, status, size, first_byte, time.monotonic() - started, cache)
        self.recorder.request(fetched)
        return fetched, b"".join(parts)
