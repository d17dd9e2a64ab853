"""Where the origin gets objects from: the store, every call bounded by a timeout.

`ObjectSource` separates "which object, with which validators" (`resolve`, a HEAD) from
"its bytes" (`open`, a GET of a range of exactly that object), and offers `fetch` (one GET
of the whole object, whose answer carries the validators too: no HEAD before it). The
origin's caches (`origin.objects`) sit on top of it; the breaker (`origin.breaker`) wraps
it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from origin.body import Body, StreamedBody
from vodstack.errors import StoreUnavailable
from vodstack.store import ObjectInfo, ObjectNotFound, ObjectStore, ObjectStream


class ObjectChanged(Exception):
    """The object was replaced or deleted between `resolve` and `open`; decide again."""


class ObjectSource(Protocol):
    async def resolve(self, key: str) -> ObjectInfo | None:
        """The object's metadata, None if there is none; StoreUnavailable if no answer."""

    async def open(self, info: ObjectInfo, start: int, length: int) -> Body:
        """`length` bytes from `start` of exactly the object `info` describes."""

    async def fetch(self, key: str) -> tuple[ObjectInfo, ObjectStream] | None:
        """The whole object, opened: its metadata and its stream (the caller closes it)."""


class StoreSource:
    """Objects straight from an ObjectStore."""

    def __init__(self, store: ObjectStore, timeout: float) -> None:
        self.store = store
        self.timeout = timeout

    async def resolve(self, key: str) -> ObjectInfo | None:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.store.head(key)
        except ObjectNotFound:
            return None
        except TimeoutError:
            raise StoreUnavailable(f"no answer within {self.timeout:g}s to head {key}") from None
        except OSError as exc:
            raise StoreUnavailable(f"head {key}: {exc}") from exc

    async def open(self, info: ObjectInfo, start: int, length: int) -> Body:
        try:
            stream = await self._open(info.key, start, length)
        except ObjectNotFound:
            raise ObjectChanged(info.key) from None
        if stream.info.etag != info.etag:
            await StreamedBody(stream, 0, self.timeout).aclose()
            raise ObjectChanged(info.key)
        return StreamedBody(stream, length, self.timeout)

    async def fetch(self, key: str) -> tuple[ObjectInfo, ObjectStream] | None:
        try:
            stream = await self._open(key, 0, None)
        except ObjectNotFound:
            return None
        return stream.info, stream

    async def _open(self, key: str, start: int, length: int | None) -> ObjectStream:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.store.open(key, start, length)
        except TimeoutError:
            raise StoreUnavailable(f"no answer within {self.timeout:g}s to open {key}") from None
        except OSError as exc:
            raise StoreUnavailable(f"open {key}: {exc}") from exc
