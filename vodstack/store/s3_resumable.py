"""Resumable writes on S3: one multipart upload, plus a staging "tail" object for the bytes
that do not yet fill a part.

S3 parts must be at least 5 MiB (all but the last), while tus clients send chunks of any
size (tuspy 1 MiB, browsers often less). So an append:

1. reads the committed tail object (< one part) into the part buffer,
2. adds the new bytes, sending a part each time the buffer reaches the part size (one part
   in flight while the next fills: memory stays near two parts whatever the chunk sizes),
3. stores what is left as a new tail object `<key>.tail<n+1>`.

Nothing is overwritten that the committed state refers to: new parts take the numbers after
the committed ones (a failed append's parts are overwritten by the next, or left out of the
final list and dropped by S3), and each tail has a fresh name. The tail before the
committed one is deleted at the start of the next append, so at most two tails exist.
Finishing sends the tail as the last part and completes the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterable, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from vodstack.errors import StoreUnavailable
from vodstack.store.base import ObjectInfo, ObjectNotFound, ResumableUpload
from vodstack.store.s3_errors import error_code
from vodstack.store.s3_location import MAX_PARTS, MIN_PART_SIZE, part_size_for

log = logging.getLogger(__name__)

NO_UPLOAD_CODES = frozenset({"NoSuchUpload", "404"})


class S3Backend(Protocol):
    """The calls of `S3Store` this module makes."""

    @property
    def bucket(self) -> str: ...

    def _call(
        self, what: str, operation: str, *, key: str | None = None, deadline: bool = True,
        **params: Any,
    ) -> Awaitable[dict[str, Any]]: ...

    def _object_key(self, key: str) -> str: ...

    async def read(self, key: str) -> bytes: ...

    async def head(self, key: str) -> ObjectInfo: ...

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo: ...

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> int: ...


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    size: int


@dataclass(frozen=True)
class S3ResumableState:
    """`ResumableUpload.state` of the S3 store, as a typed value."""

    upload_id: str
    part_size: int
    content_type: str
    parts: tuple[Part, ...] = ()
    tail_number: int = 0
    """The committed tail is `<key>.tail<n>` when `tail_size` > 0."""
    tail_size: int = 0

    @classmethod
    def of(cls, upload: ResumableUpload) -> S3ResumableState:
        state = upload.state
        try:
            return cls(
                upload_id=str(state["upload_id"]),
                part_size=int(state["part_size"]),
                content_type=str(state["content_type"]),
                parts=tuple(Part(int(n), str(e), int(s)) for n, e, s in state.get("parts", ())),
                tail_number=int(state.get("tail_number", 0)),
                tail_size=int(state.get("tail_size", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an S3 resumable upload: {state!r}") from exc

    def to_state(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "part_size": self.part_size,
            "content_type": self.content_type,
            "parts": [[p.number, p.etag, p.size] for p in self.parts],
            "tail_number": self.tail_number,
            "tail_size": self.tail_size,
        }


def tail_key(key: str, number: int) -> str:
    return f"{key}.tail{number}"


def tails_prefix(key: str) -> str:
    return f"{key}.tail"


def _is_no_upload(exc: StoreUnavailable) -> bool:
    cause = exc.__cause__
    return isinstance(cause, ClientError) and error_code(cause) in NO_UPLOAD_CODES


class S3Resumables:
    def __init__(self, store: S3Backend) -> None:
        self.store = store

    async def start(
        self, key: str, content_type: str, size_hint: int | None
    ) -> ResumableUpload:
        response = await self.store._call(
            "start resumable upload", "create_multipart_upload",
            Bucket=self.store.bucket, Key=self.store._object_key(key), ContentType=content_type,
        )
        state = S3ResumableState(
            upload_id=str(response["UploadId"]),
            part_size=part_size_for(size_hint, MIN_PART_SIZE),
            content_type=content_type,
        )
        return ResumableUpload(key, 0, state.to_state())

    def _target(self, upload: ResumableUpload, state: S3ResumableState) -> dict[str, Any]:
        return {
            "Bucket": self.store.bucket,
            "Key": self.store._object_key(upload.key),
            "UploadId": state.upload_id,
        }

    async def _send_part(
        self, upload: ResumableUpload, state: S3ResumableState, number: int, data: io.BytesIO
    ) -> Part:
        if number > MAX_PARTS:
            raise StoreUnavailable(f"resumable upload of {upload.key} needs over {MAX_PARTS} parts")
        size = data.getbuffer().nbytes
        data.seek(0)
        try:
            response = await self.store._call(
                f"upload part {number}", "upload_part", deadline=False,
                PartNumber=number, Body=data, **self._target(upload, state),
            )
        except StoreUnavailable as exc:
            if _is_no_upload(exc):
                raise ObjectNotFound(upload.key) from exc
            raise
        return Part(number, str(response["ETag"]), size)

    async def append(
        self, upload: ResumableUpload, chunks: AsyncIterable[bytes]
    ) -> ResumableUpload:
        state = S3ResumableState.of(upload)
        if state.tail_number > 1:
            await self._forget_tail(upload.key, state.tail_number - 1)
        buffer = io.BytesIO()
        if state.tail_size:
            buffer.write(await self.store.read(tail_key(upload.key, state.tail_number)))
        parts = list(state.parts)
        in_flight: asyncio.Task[Part] | None = None
        received = 0

        async def settle() -> None:
            nonlocal in_flight
            if in_flight is not None:
                task, in_flight = in_flight, None
                parts.append(await task)

        try:
            async for chunk in chunks:
                received += len(chunk)
                buffer.write(chunk)
                if buffer.tell() >= state.part_size:
                    await settle()
                    number = len(parts) + 1
                    in_flight = asyncio.create_task(
                        self._send_part(upload, state, number, buffer)
                    )
                    buffer = io.BytesIO()
            await settle()
        except BaseException:
            if in_flight is not None:
                in_flight.cancel()
                with contextlib.suppress(BaseException):
                    await in_flight
            raise
        tail_number, tail_size = state.tail_number, buffer.tell()
        if tail_size:
            tail_number += 1
            await self.store.put_bytes(
                tail_key(upload.key, tail_number), buffer.getvalue(),
                content_type="application/octet-stream",
            )
        new_state = S3ResumableState(
            upload_id=state.upload_id,
            part_size=state.part_size,
            content_type=state.content_type,
            parts=tuple(parts),
            tail_number=tail_number,
            tail_size=tail_size,
        )
        return ResumableUpload(upload.key, upload.offset + received, new_state.to_state())

    async def _forget_tail(self, key: str, number: int) -> None:
        try:
            await self.store.delete(tail_key(key, number))
        except StoreUnavailable as exc:  # garbage only: the finish removes it anyway
            log.info("could not delete an old tail of %s: %s", key, exc)

    async def finish(self, upload: ResumableUpload) -> ObjectInfo:
        state = S3ResumableState.of(upload)
        if upload.offset == 0:
            await self.abort(upload)
            return await self.store.put_bytes(upload.key, b"", content_type=state.content_type)
        parts = list(state.parts)
        try:
            if state.tail_size:
                data = io.BytesIO(await self.store.read(tail_key(upload.key, state.tail_number)))
                parts.append(await self._send_part(upload, state, len(parts) + 1, data))
            await self.store._call(
                "finish resumable upload", "complete_multipart_upload",
                MultipartUpload={
                    "Parts": [{"ETag": p.etag, "PartNumber": p.number} for p in parts]
                },
                **self._target(upload, state),
            )
        except (ObjectNotFound, StoreUnavailable) as exc:
            if isinstance(exc, StoreUnavailable) and not _is_no_upload(exc):
                raise
            return await self._finished_before(upload)
        await self._drop_tails(upload.key)
        return await self.store.head(upload.key)

    async def _finished_before(self, upload: ResumableUpload) -> ObjectInfo:
        """The multipart upload is gone: it was completed earlier (same size), or aborted."""
        info = await self.store.head(upload.key)
        if info.size != upload.offset:
            raise ObjectNotFound(upload.key)
        await self._drop_tails(upload.key)
        return info

    async def _drop_tails(self, key: str) -> None:
        try:
            await self.store.delete_prefix(tails_prefix(key))
        except StoreUnavailable as exc:
            log.warning("could not delete the staging tails of %s: %s", key, exc)

    async def abort(self, upload: ResumableUpload) -> None:
        state = S3ResumableState.of(upload)
        try:
            await self.store._call(
                "abort resumable upload", "abort_multipart_upload", **self._target(upload, state)
            )
        except StoreUnavailable as exc:
            if not _is_no_upload(exc):
                raise
        await self.store.delete_prefix(tails_prefix(upload.key))

