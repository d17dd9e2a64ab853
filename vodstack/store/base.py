"""The object-store contract: only the calls vodstack makes, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


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


@dataclass(frozen=True)
class ResumableUpload:
    """An object written in pieces, possibly by different processes over hours.

    The whole value is JSON-serialisable (`to_dict`), so any ingest instance can continue
    it from the catalogue; `state` belongs to the store that made it.
    """

    key: str
    offset: int = 0
    """Bytes stored so far."""
    state: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "offset": self.offset, "state": dict(self.state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResumableUpload:
        return cls(key=str(data["key"]), offset=int(data["offset"]), state=dict(data["state"]))


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

    # -- resumable writes (tus uploads) ----------------------------------------------------

    async def start_resumable(
        self, key: str, *, content_type: str, size_hint: int | None
    ) -> ResumableUpload:
        """Begin an object that arrives in pieces (`size_hint`: its final size, if known)."""

    async def append_resumable(
        self, upload: ResumableUpload, chunks: AsyncIterable[bytes]
    ) -> ResumableUpload:
        """Append everything `chunks` yields and return the new state, memory bounded.

        All or nothing: if `chunks` raises, none of its bytes are kept, `upload` stays
        valid and the error propagates. (To keep the bytes of an interrupted request, the
        caller ends the iteration instead of raising.)
        """

    async def finish_resumable(self, upload: ResumableUpload) -> ObjectInfo:
        """Make the bytes the object `upload.key`; calling it again returns the same object."""

    async def abort_resumable(self, upload: ResumableUpload) -> None:
        """Drop every stored piece; aborting twice, or a finished upload's pieces, is fine."""
