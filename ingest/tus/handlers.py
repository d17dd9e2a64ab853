"""The tus 1.0 endpoints (https://tus.io/protocols/resumable-upload, version 1.0.0):

    OPTIONS /v1/uploads[/<id>]   discovery (and CORS preflight)
    POST    /v1/uploads          creation, creation-with-upload, creation-defer-length
    HEAD    /v1/uploads/<id>     offset
    PATCH   /v1/uploads/<id>     append at Upload-Offset (checksum extension)
    DELETE  /v1/uploads/<id>     termination

An upload's id is also the id of the video it becomes; the last byte's request creates
the video and enqueues its job (`finish`).
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from ingest import params
from ingest.request_urls import request_base_url
from ingest.tus import protocol
from ingest.tus.cors import UPLOADS_PREFIX, preflight_headers
from ingest.tus.finish import finish_upload, lost_lock
from ingest.tus.locking import UploadLock, locked, not_found
from ingest.tus.receive import BodyReader, BodyTooLarge, ChecksumMismatch, Interrupted
from ingest.urls import status_url
from vodstack import keys
from vodstack.access import request_id_of
from vodstack.catalog.uploads import UploadRecord
from vodstack.errors import ApiError, ErrorCode, StoreUnavailable
from vodstack.store import ObjectNotFound, ResumableUpload
from vodstack.web import BACKENDS, SETTINGS

log = logging.getLogger(__name__)


def upload_url(request: web.Request, upload_id: str) -> str:
    return f"{request_base_url(request)}{UPLOADS_PREFIX}/{upload_id}"


def state_headers(request: web.Request, record: UploadRecord) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(record.offset),
        "Vodstack-Video-Id": record.id,
        "Vodstack-Video-Url": status_url(request_base_url(request), record.id),
    }
    if record.length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(record.length)
    if not record.finished:
        headers["Upload-Expires"] = protocol.http_date(record.expires_at)
    return headers


async def options(request: web.Request) -> web.Response:
    """Discovery: no Tus-Resumable needed on the request (§ Core Protocol, OPTIONS)."""
    max_size = request.app[SETTINGS].max_upload_size
    return web.Response(
        status=204, headers={**protocol.discovery_headers(max_size), **preflight_headers()}
    )


async def _existing(request: web.Request) -> UploadRecord:
    upload_id = request.match_info["upload_id"]
    record = None
    if keys.is_video_id(upload_id):
        record = await request.app[BACKENDS].catalog.uploads.get_upload(upload_id)
    if record is None:
        raise not_found(upload_id)
    if not record.finished and record.expires_at < time.time():
        raise ApiError(ErrorCode.UPLOAD_EXPIRED)
    return record


async def _reload(request: web.Request, upload_id: str) -> UploadRecord:
    record = await request.app[BACKENDS].catalog.uploads.get_upload(upload_id)
    if record is None:
        raise not_found(upload_id)
    return record


async def create(request: web.Request) -> web.Response:
    protocol.check_version(request.headers.get("Tus-Resumable"))
    settings = request.app[SETTINGS]
    backends = request.app[BACKENDS]
    creation = protocol.parse_creation(request.headers, settings.max_upload_size)
    params.optional_title(creation.metadata.get("title"))  # a bad title fails now, not later
    with_body = request.headers.get("Content-Type") is not None and request.body_exists
    if with_body:
        protocol.check_patch_content_type(request.headers.get("Content-Type"))
    checksum = protocol.parse_checksum(request.headers.get("Upload-Checksum"))
    now = time.time()
    record = UploadRecord(
        id=keys.new_video_id(),
        length=creation.length,
        metadata=creation.metadata,
        created_at=now,
        expires_at=now + settings.upload_expiry,
        request_id=request_id_of(request),
    )
    await backends.catalog.uploads.create_upload(record)
    async with locked(backends.catalog.uploads, record.id) as lock:
        record = await _begin_storage(request, record, lock)
        if with_body:
            record = await _append(request, record, lock, checksum)
            record = await finish_upload(backends, settings, record, lock)
    log.info("resumable upload %s created (%s bytes)", record.id, record.length or "deferred")
    headers = {"Location": upload_url(request, record.id), **state_headers(request, record)}
    return web.Response(status=201, headers=headers)


async def _begin_storage(
    request: web.Request, record: UploadRecord, lock: UploadLock
) -> UploadRecord:
    settings = request.app[SETTINGS]
    backends = request.app[BACKENDS]
    metadata = record.metadata
    try:
        resumable = await backends.store.start_resumable(
            keys.source_key(record.id),
            content_type=params.source_content_type(
                metadata.get("filetype") or metadata.get("type")
            ),
            size_hint=record.length or settings.max_upload_size,
        )
    except BaseException:
        await backends.catalog.uploads.delete_upload(record.id, lock.token)
        raise
    started = record.replace(storage=resumable.to_dict())
    if not await backends.catalog.uploads.save_upload(started, lock.token):
        await backends.store.abort_resumable(resumable)
        raise lost_lock(record)
    return started


async def head(request: web.Request) -> web.Response:
    protocol.check_version(request.headers.get("Tus-Resumable"))
    backends = request.app[BACKENDS]
    record = await _existing(request)
    async with locked(backends.catalog.uploads, record.id) as lock:
        record = await _reload(request, record.id)
        # A final PATCH whose finishing failed (store or queue down) is finished here.
        record = await finish_upload(backends, request.app[SETTINGS], record, lock)
    headers = state_headers(request, record)
    if record.metadata:
        headers["Upload-Metadata"] = protocol.encode_metadata(record.metadata)
    return web.Response(status=200, headers=headers)


async def patch(request: web.Request) -> web.Response:
    protocol.check_version(request.headers.get("Tus-Resumable"))
    protocol.check_patch_content_type(request.headers.get("Content-Type"))
    offset = protocol.parse_integer("Upload-Offset", request.headers.get("Upload-Offset"))
    if offset is None:
        raise protocol.bad_request("Send Upload-Offset with every PATCH.")
    declared = protocol.parse_integer("Upload-Length", request.headers.get("Upload-Length"))
    checksum = protocol.parse_checksum(request.headers.get("Upload-Checksum"))
    settings = request.app[SETTINGS]
    backends = request.app[BACKENDS]
    record = await _existing(request)
    async with locked(backends.catalog.uploads, record.id) as lock:
        record = await _reload(request, record.id)
        if offset != record.offset:
            raise ApiError(
                ErrorCode.OFFSET_MISMATCH,
                f"Upload-Offset is {offset} but the upload is at {record.offset}; "
                "ask with HEAD and continue from there.",
            )
        length = protocol.resolve_length(
            record.length, declared, record.offset, settings.max_upload_size
        )
        if length != record.length:
            record = record.replace(length=length)
            if not await backends.catalog.uploads.save_upload(record, lock.token):
                raise lost_lock(record)
        room = (length if length is not None else settings.max_upload_size) - record.offset
        if request.content_length is not None and request.content_length > room:
            raise protocol.too_large(length or settings.max_upload_size)
        if not record.finished:
            record = await _append(request, record, lock, checksum)
            record = await finish_upload(backends, settings, record, lock)
    return web.Response(status=204, headers=state_headers(request, record))


async def _append(
    request: web.Request,
    record: UploadRecord,
    lock: UploadLock,
    checksum: protocol.Checksum | None,
) -> UploadRecord:
    """Append the request body to the store and record the new offset."""
    settings = request.app[SETTINGS]
    backends = request.app[BACKENDS]
    assert record.storage is not None
    sessions = backends.catalog.uploads
    limit = (record.length if record.length is not None else settings.max_upload_size)
    reader = BodyReader(
        request,
        limit=limit - record.offset,
        checksum=checksum,
        unlock_requested=lambda: sessions.unlock_requested(record.id),
    )
    try:
        stored = await backends.store.append_resumable(
            ResumableUpload.from_dict(record.storage), reader.chunks()
        )
    except ChecksumMismatch:
        raise ApiError(ErrorCode.CHECKSUM_MISMATCH) from None
    except Interrupted as exc:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"The body was interrupted ({exc}); with Upload-Checksum nothing of it is kept.",
        ) from None
    except BodyTooLarge:
        raise protocol.too_large(limit) from None
    except ObjectNotFound:
        raise ApiError(ErrorCode.UPLOAD_EXPIRED) from None
    except OSError as exc:
        raise StoreUnavailable(f"storing upload {record.id} failed: {exc}") from exc
    if reader.interrupted:
        log.info(
            "upload %s: body interrupted after %d bytes (%s); keeping them",
            record.id, reader.received, reader.interrupted,
        )
    if lock.lost:
        raise lost_lock(record)
    updated = record.replace(
        offset=stored.offset,
        storage=stored.to_dict(),
        expires_at=time.time() + settings.upload_expiry,
    )
    if not await sessions.save_upload(updated, lock.token):
        raise lost_lock(record)
    return updated


async def delete(request: web.Request) -> web.Response:
    """§ Termination. A finished upload's video stays: delete it with /v1/videos/<id>."""
    protocol.check_version(request.headers.get("Tus-Resumable"))
    backends = request.app[BACKENDS]
    record = await _existing(request)
    async with locked(backends.catalog.uploads, record.id) as lock:
        record = await _reload(request, record.id)
        if not record.finished and record.storage is not None:
            await backends.store.abort_resumable(ResumableUpload.from_dict(record.storage))
        await backends.catalog.uploads.delete_upload(record.id, lock.token)
    log.info("resumable upload %s terminated", record.id)
    return web.Response(status=204)
