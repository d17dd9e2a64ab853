"""Where the origin gets objects from: the store, every call bounded by a timeout.

`ObjectSource` is the seam between "which object, with which validators" (`resolve`) and
"its bytes" (`open`). A hot-object cache (small playlists kept in memory, checked by ETag)
or a sendfile path for the local store wraps or replaces `StoreSource` without touching the
handler.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from origin.body import Body, StreamedBody
from vodstack.errors import StoreUnavailable
from vodstack.store import ObjectInfo, ObjectNotFound, ObjectStore


class ObjectChanged(Exception):
    """The object was replaced or deleted between `resolve` and `open`; decide again."""


class ObjectSource(Protocol):
    async def resolve(self, key: str) -> ObjectInfo | None:
        """The object's metadata, None if there is none; StoreUnavailable if no answer."""

    async def open(self, info: ObjectInfo, start: int, length: int) -> Body:
        """`length` bytes from `start` of exactly the object `info` describes."""


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
            async with asyncio.timeout(self.timeout):
                stream = await self.store.open(info.key, start, length)
        except ObjectNotFound:
            raise ObjectChanged(info.key) from None
        except TimeoutError:
            raise StoreUnavailable(
                f"no answer within {self.timeout:g}s to open {info.key}"
            ) from None
        except OSError as exc:
            raise StoreUnavailable(f"open {info.key}: {exc}") from exc
        if stream.info.etag != info.etag:
            await StreamedBody(stream, 0, self.timeout).aclose()
            raise ObjectChanged(info.key)
        return StreamedBody(stream, length, self.timeout)
