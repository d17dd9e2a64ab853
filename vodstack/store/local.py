"""Object store on a local directory: atomic writes (temp file + rename), metadata sidecars.

Layout under the root:
    data/<key>   the object's bytes
    meta/<key>   JSON: etag (MD5 of the bytes, like S3), size, mtime_ns, content type,
                 cache control
    tmp/         writes in progress
    resumable/   resumable (tus) uploads in progress (see `local_resumable`)

The sidecar is renamed into place before the data, and it records the data file's size
and mtime; a reader that finds them disagreeing (a write racing a read) falls back to an
ETag derived from size and mtime, which is still unique to those bytes. Every blocking call
runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import mimetypes
import os
import shutil
import stat as stat_module
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vodstack.errors import StoreUnavailable
from vodstack.keys import is_valid_key
from vodstack.store.base import ObjectInfo, ObjectNotFound, ObjectTooLarge, ResumableUpload
from vodstack.store.local_resumable import LocalResumables, finish_into_place

CHUNK_SIZE = 256 * 1024
WRITE_BUFFER = 1024 * 1024
STALE_TMP_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What identifies the bytes of a data file: writes never modify a file in place, they
    rename a new one over it, so the same inode, size and mtime mean the same bytes."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileStamp:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _is_regular(stat: os.stat_result) -> bool:
    return stat_module.S_ISREG(stat.st_mode)


class LocalObjectStream:
    """Chunks of one open file, read in a worker thread."""

    def __init__(self, info: ObjectInfo, fh: IO[bytes], length: int) -> None:
        self.info = info
        self._fh = fh
        self._remaining = length

    async def __anext__(self) -> bytes:
        if self._remaining <= 0:
            await self.aclose()
            raise StopAsyncIteration
        chunk = await asyncio.to_thread(self._fh.read, min(CHUNK_SIZE, self._remaining))
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        self._remaining -= len(chunk)
        return chunk

    def __aiter__(self) -> LocalObjectStream:
        return self

    async def aclose(self) -> None:
        if not self._fh.closed:
            await asyncio.to_thread(self._fh.close)


class _AtomicWriter:
    """A temp file being written and hashed; `commit` moves it and its sidecar into place."""

    def __init__(self, store: LocalStore, key: str, fsync: bool) -> None:
        self._store = store
        self._key = key
        self._fsync = fsync
        self.tmp_path = store.tmp_root / f"{uuid.uuid4().hex}.part"
        self._fh: IO[bytes] = open(self.tmp_path, "wb")  # noqa: SIM115 - closed in commit/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._fh.write(data)
        self._md5.update(data)
        self.size += len(data)

    def commit(self, content_type: str, cache_control: str | None) -> ObjectInfo:
        if self._fsync:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        self._fh.close()
        stat = os.stat(self.tmp_path)
        info = ObjectInfo(
            key=self._key,
            size=stat.st_size,
            etag=f'"{self._md5.hexdigest()}"',
            last_modified=stat.st_mtime,
            content_type=content_type,
            cache_control=cache_control,
        )
        data_path, meta_path = self._store.paths(self._key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "etag": info.etag,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "content_type": content_type,
            "cache_control": cache_control,
        }
        meta_tmp = self.tmp_path.with_suffix(".meta")
        meta_tmp.write_text(json.dumps(meta))
        os.replace(meta_tmp, meta_path)
        os.replace(self.tmp_path, data_path)
        return info

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp_path.unlink()


class LocalStore:
    """An ObjectStore on a directory; suitable for one machine (or a shared filesystem)."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.data_root = root / "data"
        self.meta_root = root / "meta"
        self.tmp_root = root / "tmp"
        self._fsync = fsync
        self._resumables = LocalResumables(root / "resumable", fsync)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._start_sync)

    def _start_sync(self) -> None:
        for path in (self.data_root, self.meta_root, self.tmp_root):
            path.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TMP_SECONDS
        for leftover in self.tmp_root.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    async def close(self) -> None:
        return None

    async def check(self) -> None:
        ok = await asyncio.to_thread(
            lambda: self.data_root.is_dir() and os.access(self.tmp_root, os.W_OK)
        )
        if not ok:
            raise StoreUnavailable(f"store directory {self.root} is missing or not writable")

    # -- paths -----------------------------------------------------------------------------

    def paths(self, key: str) -> tuple[Path, Path]:
        if not is_valid_key(key):
            raise ValueError(f"invalid object key: {key!r}")
        return self.data_root / key, self.meta_root / key

    def local_path(self, key: str) -> Path | None:
        return self.paths(key)[0]

    # -- reads -----------------------------------------------------------------------------

    def _info_from_stat(self, key: str, stat: os.stat_result, meta_path: Path) -> ObjectInfo:
        meta: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(meta_path.read_bytes())
        matches = meta.get("size") == stat.st_size and meta.get("mtime_ns") == stat.st_mtime_ns
        etag = meta["etag"] if matches else f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        content_type = meta.get("content_type") or (
            mimetypes.guess_type(key)[0] or "application/octet-stream"
        )
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=etag,
            last_modified=stat.st_mtime,
            content_type=content_type,
            cache_control=meta.get("cache_control") if matches else None,
        )

    def _missing(self, key: str) -> Exception:
        """ObjectNotFound, unless the whole store directory is gone (then it is the store
        that is unavailable, not the object that is missing)."""
        if not self.data_root.is_dir():
            return StoreUnavailable(f"store directory {self.data_root} is missing")
        return ObjectNotFound(key)

    def _head_sync(self, key: str) -> ObjectInfo:
        try:
            data_path, meta_path = self.paths(key)
            stat = os.stat(data_path)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise self._missing(key) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key} in {self.root}: {exc}") from exc
        if not os.path.isfile(data_path):
            raise ObjectNotFound(key)
        return self._info_from_stat(key, stat, meta_path)

    async def head(self, key: str) -> ObjectInfo:
        return await asyncio.to_thread(self._head_sync, key)

    def _open_sync(self, key: str, offset: int, length: int | None) -> LocalObjectStream:
        try:
            data_path, meta_path = self.paths(key)
            fh = open(data_path, "rb")  # noqa: SIM115 - owned by the stream
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError):
            raise self._missing(key) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key} in {self.root}: {exc}") from exc
        try:
            info = self._info_from_stat(key, os.fstat(fh.fileno()), meta_path)
            offset = max(0, min(offset, info.size))
            available = info.size - offset
            fh.seek(offset)
        except BaseException:
            fh.close()
            raise
        return LocalObjectStream(info, fh, available if length is None else min(length, available))

    async def open(self, key: str, offset: int = 0, length: int | None = None) -> LocalObjectStream:
        return await asyncio.to_thread(self._open_sync, key, offset, length)

    # -- serving from open files (the origin's caches; blocking: call from a thread) ------

    def open_fd_sync(self, key: str) -> tuple[int, ObjectInfo, FileStamp]:
        """A read-only descriptor of the object's data file, its info and its stamp.

        The caller owns the descriptor. ObjectNotFound / StoreUnavailable as `head`.
        """
        try:
            data_path, meta_path = self.paths(key)
            fd = os.open(data_path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise self._missing(key) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key} in {self.root}: {exc}") from exc
        try:
            stat = os.fstat(fd)
            if not _is_regular(stat):
                raise ObjectNotFound(key)
            return fd, self._info_from_stat(key, stat, meta_path), FileStamp.of(stat)
        except BaseException:
            os.close(fd)
            raise

    def stamp_sync(self, key: str) -> FileStamp | None:
        """The stamp of the object's data file now; None when there is no object."""
        try:
            stat = os.stat(self.paths(key)[0])
        except (FileNotFoundError, NotADirectoryError, ValueError):
            missing = self._missing(key)
            if isinstance(missing, ObjectNotFound):
                return None
            raise missing from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key} in {self.root}: {exc}") from exc
        return FileStamp.of(stat) if _is_regular(stat) else None

    async def read(self, key: str) -> bytes:
        def read_sync() -> bytes:
            try:
                return self.paths(key)[0].read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError):
                raise ObjectNotFound(key) from None

        return await asyncio.to_thread(read_sync)

    async def download(self, key: str, path: Path) -> None:
        def copy_sync() -> None:
            try:
                shutil.copyfile(self.paths(key)[0], path)
            except (FileNotFoundError, NotADirectoryError, ValueError):
                raise ObjectNotFound(key) from None

        await asyncio.to_thread(copy_sync)

    def _list_sync(self, prefix: str) -> list[ObjectInfo]:
        if not prefix or prefix.endswith("/"):
            base = self.data_root / prefix
        else:
            base = (self.data_root / prefix).parent
        if not base.is_dir() or not base.resolve().is_relative_to(self.data_root.resolve()):
            return []
        found: list[ObjectInfo] = []
        for dirpath, _dirnames, filenames in os.walk(base):
            for name in filenames:
                path = Path(dirpath) / name
                key = path.relative_to(self.data_root).as_posix()
                if not key.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    found.append(self._info_from_stat(key, path.stat(), self.meta_root / key))
        found.sort(key=lambda info: info.key)
        return found

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        for info in await asyncio.to_thread(self._list_sync, prefix):
            yield info

    # -- writes ----------------------------------------------------------------------------

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        cache_control: str | None = None,
        max_size: int | None = None,
    ) -> ObjectInfo:
        self.paths(key)  # validate before any work
        writer = await asyncio.to_thread(_AtomicWriter, self, key, self._fsync)
        buffer = bytearray()
        received = 0
        try:
            async for chunk in chunks:
                received += len(chunk)
                if max_size is not None and received > max_size:
                    raise ObjectTooLarge(max_size)
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER:
                    await asyncio.to_thread(writer.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await asyncio.to_thread(writer.write, bytes(buffer))
            return await asyncio.to_thread(writer.commit, content_type, cache_control)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(writer.abort))
            raise

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        def put_sync() -> ObjectInfo:
            writer = _AtomicWriter(self, key, self._fsync)
            try:
                writer.write(data)
                return writer.commit(content_type, cache_control)
            except BaseException:
                writer.abort()
                raise

        self.paths(key)
        return await asyncio.to_thread(put_sync)

    async def put_file(
        self, key: str, path: Path, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        def put_sync() -> ObjectInfo:
            writer = _AtomicWriter(self, key, self._fsync)
            try:
                with open(path, "rb") as source:
                    while block := source.read(WRITE_BUFFER):
                        writer.write(block)
                return writer.commit(content_type, cache_control)
            except BaseException:
                writer.abort()
                raise

        self.paths(key)
        return await asyncio.to_thread(put_sync)

    # -- deletes ---------------------------------------------------------------------------

    def _delete_sync(self, key: str) -> bool:
        data_path, meta_path = self.paths(key)
        existed = False
        for path in (data_path, meta_path):
            try:
                path.unlink()
                existed = True
            except (FileNotFoundError, NotADirectoryError):
                pass
            self._prune_empty_dirs(path.parent)
        return existed

    def _prune_empty_dirs(self, directory: Path) -> None:
        for root in (self.data_root, self.meta_root):
            if directory.is_relative_to(root):
                while directory != root:
                    try:
                        directory.rmdir()
                    except OSError:
                        break
                    directory = directory.parent

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete_sync, key)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete every object: give a non-empty prefix")

        def delete_sync() -> int:
            keys = [info.key for info in self._list_sync(prefix)]
            for key in keys:
                self._delete_sync(key)
            return len(keys)

        return await asyncio.to_thread(delete_sync)

    # -- resumable writes ------------------------------------------------------------------

    async def start_resumable(
        self, key: str, *, content_type: str, size_hint: int | None
    ) -> ResumableUpload:
        self.paths(key)
        return await self._resumables.start(key, content_type)

    async def append_resumable(
        self, upload: ResumableUpload, chunks: AsyncIterable[bytes]
    ) -> ResumableUpload:
        return await self._resumables.append(upload, chunks)

    async def finish_resumable(self, upload: ResumableUpload) -> ObjectInfo:
        data_path, meta_path = self.paths(upload.key)
        source = self._resumables.path(upload)
        info = await asyncio.to_thread(finish_into_place, upload, source, data_path, meta_path)
        if info is not None:
            return info
        existing = await self.head(upload.key)  # finished before: the same object
        if existing.size != upload.offset:
            raise ObjectNotFound(upload.key)
        return existing

    async def abort_resumable(self, upload: ResumableUpload) -> None:
        await self._resumables.abort(upload)
