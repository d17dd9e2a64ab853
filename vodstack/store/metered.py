"""`MeteredStore`: any ObjectStore with each call's latency and failures recorded.

Applied once by `Backends.instrument`, so no backend records metrics itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from vodstack.metrics.store import StoreMetrics
from vodstack.store.base import ObjectInfo, ObjectStore, ObjectStream


class MeteredStore:
    def __init__(self, inner: ObjectStore, metrics: StoreMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __getattr__(self, name: str) -> Any:
        # Backend-specific attributes (a local store's directories, ...) stay reachable.
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def _timed(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self.metrics.observe(operation, time.perf_counter() - started, failure)

    def _stored(self, info: ObjectInfo) -> ObjectInfo:
        self.metrics.written.inc((), info.size)
        return info

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def check(self) -> None:
        with self._timed("check"):
            await self.inner.check()

    async def head(self, key: str) -> ObjectInfo:
        with self._timed("head"):
            return await self.inner.head(key)

    async def open(self, key: str, offset: int = 0, length: int | None = None) -> ObjectStream:
        with self._timed("open"):
            return await self.inner.open(key, offset, length)

    async def read(self, key: str) -> bytes:
        with self._timed("read"):
            return await self.inner.read(key)

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        with self._timed("put_bytes"):
            return self._stored(await self.inner.put_bytes(
                key, data, content_type=content_type, cache_control=cache_control
            ))

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        cache_control: str | None = None,
        max_size: int | None = None,
    ) -> ObjectInfo:
        with self._timed("put_stream"):
            return self._stored(await self.inner.put_stream(
                key, chunks, content_type=content_type, cache_control=cache_control,
                max_size=max_size,
            ))

    async def put_file(
        self, key: str, path: Path, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        with self._timed("put_file"):
            return self._stored(await self.inner.put_file(
                key, path, content_type=content_type, cache_control=cache_control
            ))

    async def download(self, key: str, path: Path) -> None:
        with self._timed("download"):
            await self.inner.download(key, path)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        return self._list(prefix)

    async def _list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Times only the waits for the backend, not what the caller does between items."""
        listing = self.inner.list(prefix)
        waited = 0.0
        failure: BaseException | None = None
        try:
            while True:
                started = time.perf_counter()
                try:
                    info = await anext(listing)
                except StopAsyncIteration:
                    break
                finally:
                    waited += time.perf_counter() - started
                yield info
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self.metrics.observe("list", waited, failure)
            close = getattr(listing, "aclose", None)
            if close is not None:
                await close()

    async def delete(self, key: str) -> None:
        with self._timed("delete"):
            await self.inner.delete(key)

    async def delete_prefix(self, prefix: str) -> int:
        with self._timed("delete_prefix"):
            return await self.inner.delete_prefix(prefix)


def unwrapped(store: ObjectStore) -> ObjectStore:
    """The backend under any MeteredStore layers."""
    while isinstance(store, MeteredStore):
        store = store.inner
    return store
