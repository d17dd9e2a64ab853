"""Resumable writes for the local store: one growing file per upload, renamed when finished.

    <root>/resumable/<token>.bin    the bytes received so far

An append truncates the file to the committed offset first (a crash may have left bytes
the catalogue never recorded), writes the new bytes in 1 MiB blocks from a worker thread,
and fsyncs before it returns, so the offset the caller then records is durable. If the
chunk stream raises, the file is cut back to where it was: all or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterable
from pathlib import Path
from typing import IO

from vodstack.errors import StoreUnavailable
from vodstack.store.base import ObjectInfo, ObjectNotFound, ResumableUpload

WRITE_BLOCK = 1024 * 1024


class LocalResumables:
    """The resumable half of `LocalStore` (which passes itself in for paths and heads)."""

    def __init__(self, root: Path, fsync: bool) -> None:
        self.root = root
        self._fsync = fsync

    def path(self, upload: ResumableUpload) -> Path:
        name = str(upload.state.get("file", ""))
        if not name.isalnum():
            raise ValueError(f"not a local resumable upload: {upload.state!r}")
        return self.root / f"{name}.bin"

    async def start(self, key: str, content_type: str) -> ResumableUpload:
        token = secrets.token_hex(16)
        upload = ResumableUpload(key, 0, {"file": token, "content_type": content_type})
        path = self.path(upload)

        def create() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=False)

        await asyncio.to_thread(create)
        return upload

    def _open_at(self, upload: ResumableUpload) -> IO[bytes]:
        try:
            fh = open(self.path(upload), "r+b")  # noqa: SIM115 - closed by the caller
        except FileNotFoundError:
            raise ObjectNotFound(upload.key) from None
        size = os.fstat(fh.fileno()).st_size
        if size < upload.offset:
            fh.close()
            raise StoreUnavailable(
                f"resumable file of {upload.key} has {size} bytes, {upload.offset} were recorded"
            )
        fh.truncate(upload.offset)
        fh.seek(upload.offset)
        return fh

    def _settle(self, fh: IO[bytes]) -> None:
        fh.flush()
        if self._fsync:
            os.fsync(fh.fileno())
        fh.close()

    @staticmethod
    def _undo(fh: IO[bytes], offset: int) -> None:
        with contextlib.suppress(OSError):
            fh.truncate(offset)
            fh.close()

    async def append(
        self, upload: ResumableUpload, chunks: AsyncIterable[bytes]
    ) -> ResumableUpload:
        fh = await asyncio.to_thread(self._open_at, upload)
        written = 0
        pending = bytearray()
        try:
            async for chunk in chunks:
                pending += chunk
                if len(pending) >= WRITE_BLOCK:
                    await asyncio.to_thread(fh.write, bytes(pending))
                    written += len(pending)
                    pending.clear()
            if pending:
                await asyncio.to_thread(fh.write, bytes(pending))
                written += len(pending)
            await asyncio.to_thread(self._settle, fh)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self._undo, fh, upload.offset))
            raise
        return ResumableUpload(upload.key, upload.offset + written, dict(upload.state))

    async def abort(self, upload: ResumableUpload) -> None:
        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.path(upload).unlink()

        await asyncio.to_thread(remove)


def finish_into_place(
    upload: ResumableUpload, source: Path, data_path: Path, meta_path: Path
) -> ObjectInfo | None:
    """Rename the finished file to the object's place with its sidecar (in a thread).

    Returns None when the file is gone (already finished, or aborted); the caller then
    checks whether the object is there. The ETag is made of size and mtime, not an MD5:
    hashing a 10 GiB upload again would hold up the last request for many seconds, and
    sources are never served to players, so all an ETag must do is change with the bytes.
    """
    try:
        with open(source, "r+b") as fh:
            fh.truncate(upload.offset)
            fh.flush()
            os.fsync(fh.fileno())
    except FileNotFoundError:
        return None
    stat = os.stat(source)
    content_type = str(upload.state.get("content_type") or "application/octet-stream")
    etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    meta = {
        "etag": etag,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "content_type": content_type,
        "cache_control": None,
    }
    data_path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta_tmp = source.with_suffix(".meta")
    meta_tmp.write_text(json.dumps(meta))
    os.replace(meta_tmp, meta_path)
    os.replace(source, data_path)
    return ObjectInfo(
        key=upload.key,
        size=stat.st_size,
        etag=etag,
        last_modified=stat.st_mtime,
        content_type=content_type,
    )
