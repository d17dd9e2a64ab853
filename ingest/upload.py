"""`POST /v1/videos`: stream the file into the store, record the video, enqueue its job.

Either all three happen or none: a failed or interrupted upload leaves no object, no
record and no job, and releases its Idempotency-Key so the client can retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

from aiohttp import HttpVersion11, hdrs, web

from ingest import params
from ingest.body import IncomingUpload, is_form, open_upload
from ingest.presenter import created_json
from ingest.request_urls import request_base_url, request_media_base_url, request_signer
from ingest.urls import status_url
from vodstack import keys
from vodstack.access import request_id_of
from vodstack.auth import refusal
from vodstack.backends import Backends
from vodstack.catalog import Video
from vodstack.errors import ApiError, ErrorCode, StoreUnavailable
from vodstack.playback.signer import UrlSigner
from vodstack.store import ObjectTooLarge
from vodstack.web import BACKENDS, RETRY_AFTER_SECONDS, SETTINGS, error_response, json_response

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL = 24 * 3600.0
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class UploadContext:
    video_id: str
    request_id: str
    max_size: int
    max_attempts: int
    idle_timeout: float = 60.0


def _declared_too_large(request: web.Request, limit: int) -> bool:
    return params.declared_too_large(
        request.content_length, multipart=is_form(request), limit=limit
    )


async def expect_upload(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue` (RFC 9110 §10.1.1): refuse an oversized body before it is sent."""
    if request.version != HttpVersion11:
        return None
    expect = request.headers.get(hdrs.EXPECT, "")
    if expect.lower() != "100-continue":
        return error_response(
            ApiError(ErrorCode.EXPECTATION_FAILED, f"Unknown expectation: {expect!r}.")
        )
    refused = await refusal(request)
    if refused is not None:
        return error_response(refused)
    limit = request.app[SETTINGS].max_upload_size
    if _declared_too_large(request, limit):
        return error_response(params.too_large_error(limit))
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0
    return None


async def create_video(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    backends = request.app[BACKENDS]
    if _declared_too_large(request, settings.max_upload_size):
        raise params.too_large_error(settings.max_upload_size)
    idempotency_key = params.idempotency_key(request.headers.get(IDEMPOTENCY_KEY_HEADER))
    context = UploadContext(
        video_id=keys.new_video_id(),
        request_id=request_id_of(request),
        max_size=settings.max_upload_size,
        max_attempts=settings.max_attempts,
        idle_timeout=settings.upload_idle_timeout,
    )
    base = request_base_url(request)
    media_base = request_media_base_url(request, base)
    if idempotency_key is not None:
        holder = await backends.catalog.claim_idempotency_key(
            idempotency_key, context.video_id, IDEMPOTENCY_TTL
        )
        if holder is not None:
            return await _replay(backends, holder, base, media_base, request_signer(request))
    try:
        video = await receive_video(request, backends, context)
    except BaseException:
        if idempotency_key is not None:
            await _quietly(
                backends.catalog.release_idempotency_key(idempotency_key, context.video_id)
            )
        raise
    log.info(
        "video %s uploaded: %d bytes, file %r",
        video.id,
        video.size,
        video.filename,
        extra={"video_id": video.id, "request_id": context.request_id},
    )
    return _created(video.id, base, media_base, request_signer(request))


def _created(
    video_id: str, base: str, media_base: str, sign: UrlSigner, *, replayed: bool = False
) -> web.Response:
    headers: dict[str, str] = {hdrs.LOCATION: status_url(base, video_id)}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return json_response(
        created_json(video_id, base, media_base, sign), status=201, headers=headers
    )


async def _replay(
    backends: Backends, holder: str, base: str, media_base: str, sign: UrlSigner
) -> web.Response:
    """The same answer as the first request got, or 409 while that one is still running."""
    if await backends.catalog.get(holder) is None:
        raise ApiError(ErrorCode.IDEMPOTENCY_IN_PROGRESS)
    return _created(holder, base, media_base, sign, replayed=True)


async def receive_video(
    request: web.Request, backends: Backends, context: UploadContext
) -> Video:
    source_key = keys.source_key(context.video_id)
    try:
        upload = await open_upload(request)
        info = await backends.store.put_stream(
            source_key,
            _non_empty(upload.chunks(), context.idle_timeout),
            content_type=upload.content_type,
            max_size=context.max_size,
        )
    except ObjectTooLarge as exc:
        raise params.too_large_error(exc.limit) from None
    except ConnectionError as exc:
        # The client went away mid-body: nobody will read this answer, but it ends the
        # request quietly instead of as a server error.
        log.info("upload of video %s interrupted: %s", context.video_id, exc)
        raise ApiError(
            ErrorCode.BAD_REQUEST, "The upload was interrupted before the whole file arrived."
        ) from None
    except OSError as exc:
        # The store's own failure (disk full, unwritable directory): the client may retry.
        raise StoreUnavailable(f"storing the upload failed: {exc}") from exc
    try:
        return await _record_and_enqueue(upload, backends, context, size=info.size)
    except BaseException:
        await _quietly(backends.store.delete(source_key))
        raise


async def _record_and_enqueue(
    upload: IncomingUpload, backends: Backends, context: UploadContext, *, size: int
) -> Video:
    await upload.finish()
    video = Video(
        id=context.video_id,
        filename=upload.filename,
        title=upload.title or params.default_title(upload.filename),
        size=size,
        request_id=context.request_id,
    )
    await backends.catalog.create(video)
    try:
        await backends.queue.enqueue(
            video.id,
            {
                "video_id": video.id,
                "source_key": keys.source_key(video.id),
                "request_id": context.request_id,
            },
            max_attempts=context.max_attempts,
        )
    except BaseException as exc:
        await _quietly(backends.catalog.delete(video.id))
        if isinstance(exc, Exception):
            log.warning("enqueue of video %s failed, upload undone: %s", video.id, exc)
            raise ApiError(
                ErrorCode.QUEUE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS}
            ) from exc
        raise
    return video


async def _non_empty(chunks: AsyncIterable[bytes], idle_timeout: float) -> AsyncIterator[bytes]:
    """The body's chunks; 400 if there are none, 408 if the client goes silent mid-body
    (a stalled client would otherwise hold its connection and upload slot forever)."""
    received = False
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise ApiError(
                ErrorCode.REQUEST_TIMEOUT,
                f"No part of the upload arrived for {idle_timeout:g}s; it was abandoned.",
            ) from None
        if chunk:
            received = True
            yield chunk
    if not received:
        raise ApiError(ErrorCode.EMPTY_BODY)


async def _quietly(undo: Awaitable[Any]) -> None:
    """Run one undo step to the end even if the request is being cancelled; log failures."""
    try:
        await asyncio.shield(undo)
    except Exception:
        log.exception("cleanup after a failed upload did not complete")
