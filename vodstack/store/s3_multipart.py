"""Storing a stream of unknown length in S3 with bounded memory.

Bodies smaller than one part go up as a single PutObject. Longer ones become a multipart
upload: while part N is being sent, part N+1 fills, so at most two part buffers exist at
any time. Parts are `BytesIO` buffers, which the HTTP client sends in slices without
copying them (a `bytes` body would be copied whole into the socket buffer).

Any failure, cancellation or `max_size` overrun aborts the multipart upload, so no
invisible half-upload is left behind to be billed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterable, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from vodstack.store.base import ObjectTooLarge

log = logging.getLogger(__name__)

ABORT_TIMEOUT = 30.0


class S3Call(Protocol):
    """One S3 operation with the store's timeouts and error translation."""

    def __call__(
        self, what: str, operation: str, *, key: str | None = None, deadline: bool = True,
        **params: Any,
    ) -> Awaitable[dict[str, Any]]: ...


@dataclass(frozen=True)
class Uploaded:
    etag: str
    size: int


class MultipartUpload:
    """One multipart upload: parts sent one at a time, the next one filling meanwhile."""

    def __init__(self, call: S3Call, bucket: str, object_key: str, upload_id: str) -> None:
        self._call = call
        self._target: dict[str, Any] = {"Bucket": bucket, "Key": object_key, "UploadId": upload_id}
        self._parts: list[dict[str, Any]] = []
        self._in_flight: asyncio.Task[None] | None = None
        self._next_number = 1

    @classmethod
    async def create(
        cls, call: S3Call, bucket: str, object_key: str, headers: dict[str, Any]
    ) -> MultipartUpload:
        response = await call(
            "start upload", "create_multipart_upload", Bucket=bucket, Key=object_key, **headers
        )
        return cls(call, bucket, object_key, str(response["UploadId"]))

    async def _send(self, number: int, data: io.BytesIO) -> None:
        response = await self._call(
            f"upload part {number}", "upload_part", deadline=False,
            PartNumber=number, Body=data, **self._target,
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    async def _wait_in_flight(self) -> None:
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task

    async def add_part(self, data: io.BytesIO) -> None:
        """Wait for the previous part, then start sending this one in the background."""
        await self._wait_in_flight()
        number, self._next_number = self._next_number, self._next_number + 1
        self._in_flight = asyncio.create_task(self._send(number, data))

    async def complete(self) -> str:
        await self._wait_in_flight()
        parts = sorted(self._parts, key=lambda part: part["PartNumber"])
        response = await self._call(
            "finish upload", "complete_multipart_upload",
            MultipartUpload={"Parts": parts}, **self._target,
        )
        return str(response["ETag"])

    async def abort(self) -> None:
        """Stop the part in flight and drop every stored part; never raises."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        try:
            async with asyncio.timeout(ABORT_TIMEOUT):
                await self._call("abort upload", "abort_multipart_upload", **self._target)
        except Exception as exc:  # the caller's error matters more than this one
            log.warning("could not abort multipart upload of %s: %s", self._target["Key"], exc)


async def upload_chunks(
    call: S3Call,
    *,
    bucket: str,
    object_key: str,
    chunks: AsyncIterable[bytes],
    headers: dict[str, Any],
    part_size: int,
    max_size: int | None,
) -> Uploaded:
    """Store `chunks` under `object_key`; ObjectTooLarge (and nothing stored) past max_size."""
    buffer = io.BytesIO()
    received = 0
    upload: MultipartUpload | None = None
    try:
        async for chunk in chunks:
            received += len(chunk)
            if max_size is not None and received > max_size:
                raise ObjectTooLarge(max_size)
            buffer.write(chunk)
            if buffer.tell() >= part_size:
                if upload is None:
                    upload = await MultipartUpload.create(call, bucket, object_key, headers)
                await upload.add_part(_rewound(buffer))
                buffer = io.BytesIO()
        if upload is None:
            response = await call(
                "put", "put_object", deadline=False,
                Bucket=bucket, Key=object_key, Body=_rewound(buffer), **headers,
            )
            return Uploaded(etag=str(response["ETag"]), size=received)
        if buffer.tell():
            await upload.add_part(_rewound(buffer))
        return Uploaded(etag=await upload.complete(), size=received)
    except BaseException:
        if upload is not None:
            await asyncio.shield(upload.abort())
        raise


def _rewound(buffer: io.BytesIO) -> io.BytesIO:
    buffer.seek(0)
    return buffer
