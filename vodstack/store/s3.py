"""Object store on S3 (AWS, MinIO, SeaweedFS, ...) through aiobotocore, never blocking the loop.

Every request has a deadline of `store_timeout` until its answer starts (bodies then stream
under the socket read timeout), botocore retries a couple of times inside that budget, and
failures come out as `ObjectNotFound` or `StoreUnavailable` (see `s3_errors`). The client
configuration is explained in docs/decisions.md ("S3 client").
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import mimetypes
import os
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import ClientError
from botocore.loaders import Loader, create_loader

from vodstack.errors import StoreUnavailable
from vodstack.keys import is_valid_key
from vodstack.settings import Settings
from vodstack.store.base import ObjectInfo, ObjectNotFound, ResumableUpload
from vodstack.store.s3_errors import error_code, translated
from vodstack.store.s3_location import (
    DEFAULT_REGION,
    DELETE_BATCH,
    PART_SIZE,
    S3Location,
    byte_range,
    parse_s3_url,
    part_size_for,
    total_size,
)
from vodstack.store.s3_multipart import upload_chunks
from vodstack.store.s3_resumable import S3Resumables

log = logging.getLogger(__name__)

CHUNK_SIZE = 256 * 1024
FILE_BLOCK = 1024 * 1024
MAX_ATTEMPTS = 3
"""Per request, first try included: rides out a dropped pooled connection or one 503."""
BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
NO_BUCKET_CODES = frozenset({"404", "NoSuchBucket"})

Page = list[dict[str, Any]]
"""One page of a listing: S3's `Contents` entries."""


_LOADER: Loader | None = None


def _session() -> AioSession:
    """A session sharing one cache of botocore's JSON models across stores (plain data)."""
    global _LOADER
    session = get_session()
    if _LOADER is None:
        _LOADER = create_loader()
    session.register_component("data_loader", _LOADER)
    return session


class S3ObjectStream:
    """The body of one GetObject, read in chunks; `aclose` gives the connection back."""

    def __init__(
        self, info: ObjectInfo, body: Any, store: S3Store, release: Callable[[], None]
    ) -> None:
        self.info = info
        self._body = body
        self._store = store
        self._release = release

    def __aiter__(self) -> S3ObjectStream:
        return self

    async def __anext__(self) -> bytes:
        if self._body is None:
            raise StopAsyncIteration
        with translated("read", self._store.where, self._store.timeout, self.info.key):
            try:
                chunk: bytes = await self._body.read(CHUNK_SIZE)
            except BaseException:
                await self.aclose()
                raise
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()
            self._release()

    def __del__(self) -> None:
        # A stream dropped without aclose() would hold its request slot forever.
        if self._body is not None:
            log.warning("S3 stream of %s was not closed; closing it", self.info.key)
            self._close()


class _EmptyStream:
    """A zero-byte range (S3 has no way to ask for one)."""

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info

    def __aiter__(self) -> _EmptyStream:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration

    async def aclose(self) -> None:
        return None


def client_config(settings: Settings, location: S3Location) -> AioConfig:
    """Every client knob chosen on purpose (docs/decisions.md, "S3 client")."""
    return AioConfig(
        region_name=location.region,
        signature_version="s3v4",
        s3={"addressing_style": "path" if location.endpoint else "auto"},
        max_pool_connections=settings.s3_max_connections,
        connect_timeout=min(settings.store_timeout, 5.0),
        read_timeout=settings.store_timeout,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        # Only checksums S3 demands: S3-compatible servers do not all know the newer ones.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        tcp_keepalive=True,
        # Load botocore's JSON models in a thread, not on the event loop.
        warm_up_loader_caches=True,
    )


class S3Store:
    """An ObjectStore on one bucket (and optional key prefix) of an S3-compatible server."""

    page_size = DELETE_BATCH
    """Keys per listing page (and per DeleteObjects batch)."""
    part_size = PART_SIZE
    """Multipart part size for streams of unknown length (grown to fit 10,000 parts)."""

    def __init__(
        self,
        location: S3Location,
        *,
        timeout: float,
        config: AioConfig,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.location = location
        self.timeout = timeout
        self.where = location.describe()
        self._config = config
        self._credentials = {
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._max_requests = config.max_pool_connections
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._slots: asyncio.Semaphore | None = None
        self._resumables = S3Resumables(self)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> S3Store:
        location = parse_s3_url(url, region=settings.s3_region)
        return cls(
            location,
            timeout=settings.store_timeout,
            config=client_config(settings, location),
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )

    def __repr__(self) -> str:
        return f"S3Store({self.where!r})"

    @property
    def bucket(self) -> str:
        return self.location.bucket

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_requests)
        if self._client is None:
            stack = contextlib.AsyncExitStack()
            with translated("connect", self.where, self.timeout):
                self._client = await stack.enter_async_context(
                    _session().create_client(
                        "s3",
                        endpoint_url=self.location.endpoint,
                        config=self._config,
                        **self._credentials,
                    )
                )
            self._exit_stack = stack
        try:
            await self._ensure_bucket()
        except BaseException:
            await self.close()  # a failed start leaves no open client behind
            raise

    async def _ensure_bucket(self) -> None:
        try:
            await self._call("check bucket", "head_bucket", Bucket=self.bucket)
        except StoreUnavailable as exc:
            cause = exc.__cause__
            if not isinstance(cause, ClientError) or error_code(cause) not in NO_BUCKET_CODES:
                raise
            await self._create_bucket()

    async def _create_bucket(self) -> None:
        """Create the bucket; another service creating it at the same moment is fine."""
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.location.region != DEFAULT_REGION:  # AWS wants it said, except in us-east-1
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.location.region}
        try:
            await self._call("create bucket", "create_bucket", **params)
            log.info("created bucket %s", self.bucket)
        except StoreUnavailable as exc:
            cause = exc.__cause__
            if not isinstance(cause, ClientError) or error_code(cause) not in BUCKET_EXISTS_CODES:
                raise

    async def close(self) -> None:
        stack, self._exit_stack = self._exit_stack, None
        self._client = None
        if stack is not None:
            await stack.aclose()

    async def check(self) -> None:
        await self._call("check bucket", "head_bucket", Bucket=self.bucket)

    # -- one request ---------------------------------------------------------------------

    async def _call(
        self,
        what: str,
        operation: str,
        *,
        key: str | None = None,
        deadline: bool = True,
        keep_slot: bool = False,
        **params: Any,
    ) -> dict[str, Any]:
        """Run one S3 operation; with `deadline`, it must answer within `timeout`.

        Requests that carry a large body skip the overall deadline (sending takes as long
        as it takes) and rely on the connect and socket-read timeouts instead.

        Each request first takes one of `max_pool_connections` slots, first come first
        served: aiohttp's own pool lets new requests overtake waiting ones, which starves
        some for seconds under load (docs/decisions.md, "S3 client"). With `keep_slot`
        the caller owns the slot afterwards and must `_slots.release()` it.
        """
        if self._client is None or self._slots is None:
            raise StoreUnavailable(f"S3 {what}: the store is not started")
        method = getattr(self._client, operation)
        with translated(what, self.where, self.timeout, key):
            async with asyncio.timeout(self.timeout if deadline else None):
                await self._slots.acquire()
                try:
                    result: dict[str, Any] = await method(**params)
                except BaseException:
                    self._slots.release()
                    raise
        if not keep_slot:
            self._slots.release()
        return result

    def _object_key(self, key: str) -> str:
        if not is_valid_key(key):
            raise ValueError(f"invalid object key: {key!r}")
        return self.location.object_key(key)

    def _info(self, key: str, response: dict[str, Any], size: int | None = None) -> ObjectInfo:
        modified = response.get("LastModified")
        return ObjectInfo(
            key=key,
            size=int(response.get("ContentLength", 0)) if size is None else size,
            etag=str(response["ETag"]),
            last_modified=modified.timestamp() if modified is not None else time.time(),
            content_type=response.get("ContentType") or "application/octet-stream",
            cache_control=response.get("CacheControl"),
        )

    @staticmethod
    def _headers(content_type: str, cache_control: str | None) -> dict[str, Any]:
        headers: dict[str, Any] = {"ContentType": content_type}
        if cache_control is not None:
            headers["CacheControl"] = cache_control
        return headers

    # -- reads -----------------------------------------------------------------------------

    async def head(self, key: str) -> ObjectInfo:
        if not is_valid_key(key):
            raise ObjectNotFound(key)
        response = await self._call(
            "head", "head_object", key=key, Bucket=self.bucket, Key=self._object_key(key)
        )
        return self._info(key, response)

    async def open(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> S3ObjectStream | _EmptyStream:
        if not is_valid_key(key):
            raise ObjectNotFound(key)
        if length is not None and length <= 0:
            return _EmptyStream(await self.head(key))
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object_key(key)}
        wanted = byte_range(offset, length)
        if wanted is not None:
            params["Range"] = wanted
        try:
            response = await self._call("get", "get_object", key=key, keep_slot=True, **params)
        except StoreUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and error_code(cause) == "InvalidRange":
                # Past the end: an empty body, as a local file read there would give.
                return _EmptyStream(await self.head(key))
            raise
        size = total_size(response.get("ContentRange"), int(response.get("ContentLength", 0)))
        assert self._slots is not None
        return S3ObjectStream(
            self._info(key, response, size), response["Body"], self, self._slots.release
        )

    async def read(self, key: str) -> bytes:
        stream = await self.open(key)
        try:
            return b"".join([chunk async for chunk in stream])
        finally:
            await stream.aclose()

    async def download(self, key: str, path: Path) -> None:
        """Stream into `path` (via a temp file beside it, renamed when complete)."""
        stream = await self.open(key)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        fh: IO[bytes] = await asyncio.to_thread(open, tmp, "wb")
        try:
            pending = bytearray()
            async for chunk in stream:
                pending += chunk
                if len(pending) >= FILE_BLOCK:
                    await asyncio.to_thread(fh.write, bytes(pending))
                    pending.clear()
            if pending:
                await asyncio.to_thread(fh.write, bytes(pending))
            await asyncio.to_thread(fh.close)
            await asyncio.to_thread(os.replace, tmp, path)
        except BaseException:
            await stream.aclose()
            await asyncio.shield(asyncio.to_thread(_discard, fh, tmp))
            raise

    def local_path(self, key: str) -> Path | None:
        return None

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under `prefix`, in key order, a page of 1000 at a time.

        A listing carries no content type or cache control; `head()` has the stored ones.
        """
        async for page in self._pages(prefix):
            for entry in page:
                key = self.location.store_key(entry["Key"])
                yield ObjectInfo(
                    key=key,
                    size=int(entry["Size"]),
                    etag=str(entry["ETag"]),
                    last_modified=entry["LastModified"].timestamp(),
                    content_type=mimetypes.guess_type(key)[0] or "application/octet-stream",
                )

    async def _pages(self, prefix: str) -> AsyncIterator[Page]:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.location.object_key(prefix),
            "MaxKeys": self.page_size,
        }
        while True:
            response = await self._call("list", "list_objects_v2", **params)
            yield response.get("Contents", [])
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                return
            params["ContinuationToken"] = token

    # -- writes ----------------------------------------------------------------------------

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        response = await self._call(
            "put", "put_object", key=key, deadline=len(data) <= self.part_size,
            Bucket=self.bucket, Key=self._object_key(key), Body=io.BytesIO(data),
            **self._headers(content_type, cache_control),
        )
        return ObjectInfo(
            key=key, size=len(data), etag=str(response["ETag"]), last_modified=time.time(),
            content_type=content_type, cache_control=cache_control,
        )

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        cache_control: str | None = None,
        max_size: int | None = None,
    ) -> ObjectInfo:
        return await self._upload(
            key, chunks, content_type, cache_control,
            part_size=part_size_for(max_size, self.part_size), max_size=max_size,
        )

    async def put_file(
        self, key: str, path: Path, *, content_type: str, cache_control: str | None = None
    ) -> ObjectInfo:
        self._object_key(key)
        size = (await asyncio.to_thread(os.stat, path)).st_size
        return await self._upload(
            key, _file_blocks(path), content_type, cache_control,
            part_size=part_size_for(size, self.part_size), max_size=None,
        )

    async def _upload(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        content_type: str,
        cache_control: str | None,
        *,
        part_size: int,
        max_size: int | None,
    ) -> ObjectInfo:
        uploaded = await upload_chunks(
            self._call,
            bucket=self.bucket,
            object_key=self._object_key(key),
            chunks=chunks,
            headers=self._headers(content_type, cache_control),
            part_size=part_size,
            max_size=max_size,
        )
        return ObjectInfo(
            key=key, size=uploaded.size, etag=uploaded.etag, last_modified=time.time(),
            content_type=content_type, cache_control=cache_control,
        )

    # -- deletes ---------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        await self._call(
            "delete", "delete_object", Bucket=self.bucket, Key=self._object_key(key)
        )

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete every object: give a non-empty prefix")
        deleted = 0
        async for page in self._pages(prefix):
            if not page:
                continue
            response = await self._call(
                "delete", "delete_objects",
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": entry["Key"]} for entry in page], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StoreUnavailable(
                    f"S3 delete: {len(errors)} object(s) under {prefix!r} not deleted "
                    f"({first.get('Code')}: {first.get('Message')})"
                )
            deleted += len(page)
        return deleted

    # -- resumable writes (see s3_resumable) -----------------------------------------------

    async def start_resumable(
        self, key: str, *, content_type: str, size_hint: int | None
    ) -> ResumableUpload:
        return await self._resumables.start(key, content_type, size_hint)

    async def append_resumable(
        self, upload: ResumableUpload, chunks: AsyncIterable[bytes]
    ) -> ResumableUpload:
        return await self._resumables.append(upload, chunks)

    async def finish_resumable(self, upload: ResumableUpload) -> ObjectInfo:
        return await self._resumables.finish(upload)

    async def abort_resumable(self, upload: ResumableUpload) -> None:
        await self._resumables.abort(upload)


async def _file_blocks(path: Path) -> AsyncIterator[bytes]:
    """A file's bytes in 1 MiB blocks, each read in a worker thread."""
    fh: IO[bytes] = await asyncio.to_thread(open, path, "rb")
    try:
        while block := await asyncio.to_thread(fh.read, FILE_BLOCK):
            yield block
    finally:
        await asyncio.to_thread(fh.close)


def _discard(fh: IO[bytes], path: Path) -> None:
    with contextlib.suppress(OSError):
        fh.close()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
