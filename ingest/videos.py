"""`GET/PATCH/DELETE /v1/videos/<id>` and `GET /v1/videos`: the catalogue over HTTP."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from edge_cache.fleet import EDGE_FLEET
from ingest import params
from ingest.presenter import list_json, video_json
from ingest.request_urls import request_base_url, request_media_base_url, request_signer
from vodstack import keys
from vodstack.access import request_id_of
from vodstack.catalog import Video, VideoStatus
from vodstack.errors import ApiError, ErrorCode
from vodstack.store import ObjectNotFound
from vodstack.web import (
    BACKENDS,
    NO_STORE,
    ON_VIDEO_CHANGED,
    RETRY_AFTER_SECONDS,
    SETTINGS,
    json_response,
)

log = logging.getLogger(__name__)

EDITABLE_FIELDS = ("title",)
MAX_JSON_BODY = 16 * 1024


async def _existing_video(request: web.Request) -> Video:
    """The video named in the path; malformed ids are refused before any lookup."""
    video_id = request.match_info["video_id"]
    if keys.is_video_id(video_id):
        video = await request.app[BACKENDS].catalog.get(video_id)
        if video is not None:
            return video
    raise ApiError(ErrorCode.VIDEO_NOT_FOUND, f"No video with id {video_id[:64]!r}.")


async def get_video(request: web.Request) -> web.Response:
    video = await _existing_video(request)
    return json_response(_video_json(request, video))


async def list_videos(request: web.Request) -> web.Response:
    status, limit, cursor = params.list_query(request.query)
    videos, next_cursor = await request.app[BACKENDS].catalog.list(
        status=status, limit=limit, cursor=cursor
    )
    base = request_base_url(request)
    media_base = request_media_base_url(request, base)
    return json_response(
        list_json(
            videos, next_cursor, base, limit=limit, status=status, media_base=media_base,
            sign=request_signer(request),
        )
    )


async def patch_video(request: web.Request) -> web.Response:
    video = await _existing_video(request)
    changes = _title_changes(await _json_object(request))
    updated = await request.app[BACKENDS].catalog.update(video.id, **changes)
    if updated is None:
        raise ApiError(ErrorCode.VIDEO_NOT_FOUND)
    return json_response(_video_json(request, updated))


def _video_json(request: web.Request, video: Video) -> dict[str, Any]:
    base = request_base_url(request)
    return video_json(
        video, base, request_media_base_url(request, base), request_signer(request)
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    """A small JSON object body: 413 past MAX_JSON_BODY, declared or streamed."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise _json_too_large()
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise _json_too_large()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(ErrorCode.BAD_REQUEST, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(ErrorCode.BAD_REQUEST, "The body must be a JSON object.")
    return data


def _json_too_large() -> ApiError:
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"A JSON body may be at most {MAX_JSON_BODY} bytes."
    )


def _title_changes(data: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(EDITABLE_FIELDS))
    if unknown:
        raise params.invalid(
            ", ".join(unknown), f"cannot be changed; editable: {', '.join(EDITABLE_FIELDS)}"
        )
    if "title" not in data:
        raise params.invalid("title", "is required")
    return {"title": params.validate_title(data["title"])}


async def delete_video(request: web.Request) -> web.Response:
    """Cancel the job, drop the record, remove the upload and every published object, then
    purge the video's URLs from the edges (after the objects are gone, so no edge can fetch
    them again; edges that are down are logged and skipped)."""
    video = await _existing_video(request)
    backends = request.app[BACKENDS]
    cancelled = await backends.queue.cancel(video.id)
    await backends.catalog.delete(video.id)
    removed = await backends.store.delete_prefix(keys.video_prefix(video.id))
    removed += await backends.store.delete_prefix(keys.upload_prefix(video.id))
    for forget in request.app.get(ON_VIDEO_CHANGED, ()):
        forget(video.id)
    edges = request.app.get(EDGE_FLEET)
    if edges is not None:
        await edges.purge(keys.media_path_for_key(keys.video_prefix(video.id)))
    log.info(
        "video %s deleted: %d job(s) cancelled, %d object(s) removed",
        video.id,
        cancelled,
        removed,
        extra={"video_id": video.id},
    )
    return web.Response(status=204, headers={"Cache-Control": NO_STORE})


async def retry_video(request: web.Request) -> web.Response:
    """`POST /v1/videos/<id>/retry`: queue a failed video again with fresh attempts.

    Only a `failed` video can be retried (409 otherwise, also when two retries race: the
    status moves from failed to queued atomically, so only one of them enqueues a job).
    """
    video = await _existing_video(request)
    backends = request.app[BACKENDS]
    if video.status is not VideoStatus.FAILED:
        raise ApiError(
            ErrorCode.CONFLICT,
            f"Only a failed video can be retried; this one is {video.status}.",
        )
    source_key = keys.source_key(video.id)
    try:
        await backends.store.head(source_key)
    except ObjectNotFound:
        raise ApiError(
            ErrorCode.CONFLICT,
            "The uploaded file is no longer stored, so the video cannot be retried; "
            "upload it again.",
        ) from None
    queued = await backends.catalog.update_if(
        video.id, VideoStatus.FAILED,
        status=VideoStatus.QUEUED, error=None, progress=0.0, attempts=0,
    )  # fmt: skip
    if queued is None:
        await _existing_video(request)  # 404 if it was deleted meanwhile
        raise ApiError(ErrorCode.CONFLICT, "The video is already being retried.")
    request_id = request_id_of(request)
    try:
        await backends.queue.enqueue(
            video.id,
            {"video_id": video.id, "source_key": source_key, "request_id": request_id},
            max_attempts=request.app[SETTINGS].max_attempts,
        )
    except Exception as exc:
        # Put the record back as it was, so the operator can retry the retry.
        await backends.catalog.update_if(
            video.id, VideoStatus.QUEUED,
            status=VideoStatus.FAILED, error=video.error, attempts=video.attempts,
        )  # fmt: skip
        log.warning("retry of video %s not queued: %s", video.id, exc)
        raise ApiError(
            ErrorCode.QUEUE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS}
        ) from exc
    log.info(
        "video %s queued again by an operator (was failed: %s)",
        video.id,
        video.error,
        extra={"video_id": video.id, "request_id": request_id},
    )
    return json_response(video_json(queued, request_base_url(request)), status=202)
