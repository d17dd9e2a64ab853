"""The object-store contract: only the calls vodstack makes, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    """A strong entity tag, quoted (`"…"`), identical for the same object on every origin."""
    last_modified: float
    """Seconds since the epoch."""
    content_type: str = "application/octet-stream"
    cache_control: str | None = None
    """Cache-Control chosen by the writer, if any (served as-is by the origin)."""


class ObjectNotFound(KeyError):
    """No object under this key."""

    def __str__(self) -> str:
        return f"no object {self.args[0]!r}"


class ObjectTooLarge(ValueError):
    """A streamed put went over its size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"object larger than {limit} bytes")
        self.limit = limit


class ObjectStream(Protocol):
    """The body of one object (or a byte range of it), read in chunks."""

    info: ObjectInfo

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class ObjectStore(Protocol):
    """Storage for uploads and published renditions (a local directory or S3)."""

    async def start(self) -> None:
        """Open connections and create the bucket/directory if missing."""

    async def close(self) -> None: ...

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers (for /readyz)."""

    async def head(self, key: str) -> ObjectInfo: ...

    async def open(self, key: str, offset: int = 0, length: int | None = None) -> ObjectStream:
        """Open the object (from `offset`, `length` bytes, or to the end) for streaming."""

    async def read(self, key: str) -> bytes:
        """Whole body of a small object (playlists, JSON)."""

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo: ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        cache_control: str | None = None,
        max_size: int | None = None,
    ) -> ObjectInfo:
        """Store a stream of unknown length with bounded memory; ObjectTooLarge past max_size."""

    async def put_file(
        self, key: str, path: Path, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo: ...

    async def download(self, key: str, path: Path) -> None:
        """Copy an object into a local file (for ffmpeg)."""

    def local_path(self, key: str) -> Path | None:
        """A path ffmpeg can read directly, when the store is a local directory."""

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]: ...

    async def delete(self, key: str) -> None:
        """Delete one object; deleting a missing object is not an error."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix; returns how many were deleted."""
