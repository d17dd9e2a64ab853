"""The media handler: resolve the object, decide (origin.conditional), map to a response."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from origin.breaker import StoreCircuitOpen
from origin.conditional import Decision, Outcome, evaluate
from origin.cors import add_cors_headers
from origin.paths import media_key
from origin.ranges import unsatisfied_content_range
from origin.signed import (
    Grant,
    ObjectChangedWhileReading,
    grant_for,
    signed_playlist,
    without_range,
)
from origin.source import ObjectChanged, ObjectSource
from origin.validators import format_http_date
from vodstack.errors import ApiError, ErrorCode, StoreUnavailable
from vodstack.media import NOT_FOUND, cache_control_for, content_type_for
from vodstack.playback.playlists import private_cache_control
from vodstack.store import ObjectInfo
from vodstack.web import BACKENDS, RETRY_AFTER_SECONDS, SETTINGS, error_response

log = logging.getLogger(__name__)

SOURCE: web.AppKey[ObjectSource] = web.AppKey("origin_source")
# How often a request decides again when the object is replaced while it is being opened
# (a re-published master playlist); more than that is a store that will not hold still.
MAX_ATTEMPTS = 3


def cache_control(info: ObjectInfo) -> str:
    """The writer's Cache-Control when it stored a usable one, else the policy by key."""
    stored = info.cache_control
    if stored and stored.isascii() and stored.isprintable():
        return stored
    return cache_control_for(info.key)


def validator_headers(info: ObjectInfo) -> dict[str, str]:
    """What a 304 repeats from the 200 so caches can update (RFC 9110 §15.4.5)."""
    return {
        "ETag": info.etag,
        "Last-Modified": format_http_date(info.last_modified),
        "Cache-Control": cache_control(info),
    }


def representation_headers(info: ObjectInfo) -> dict[str, str]:
    return {
        **validator_headers(info),
        "Content-Type": content_type_for(info.key),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }


async def media(request: web.Request) -> web.StreamResponse:
    """GET/HEAD /v/<video_id>/<path>: the object `videos/<video_id>/<path>`.

    Errors are answered here rather than by the app's error middleware so that they carry
    CORS headers too: a player script can then see a 404 or 503 instead of a CORS failure.
    """
    try:
        return await _serve(request)
    except ApiError as exc:
        response = error_response(exc)
    except StoreCircuitOpen as exc:
        log.debug("store circuit open during %s %s", request.method, request.path)
        response = error_response(
            ApiError(
                ErrorCode.STORE_UNAVAILABLE, headers={"Retry-After": exc.retry_after_header}
            )
        )
    except StoreUnavailable as exc:
        log.warning("store unavailable during %s %s: %s", request.method, request.path, exc)
        response = error_response(
            ApiError(ErrorCode.STORE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
        )
    add_cors_headers(response)
    return response


async def _serve(request: web.Request) -> web.StreamResponse:
    key = media_key(request.rel_url.raw_path)
    source = request.app[SOURCE]
    secret = request.app[SETTINGS].playback_secret
    grant = grant_for(request, key, secret) if secret is not None else None
    for _attempt in range(MAX_ATTEMPTS):
        info = await source.resolve(key)
        if info is None:
            raise ApiError(ErrorCode.NOT_PUBLISHED, headers={"Cache-Control": NOT_FOUND})
        try:
            if grant is not None and grant.rewrite:
                return await _respond_signed(request, info, grant)
            outcome = evaluate(request.method, request.headers, info)
            return await _respond(request, source, info, outcome)
        except (ObjectChanged, ObjectChangedWhileReading):
            log.debug("%s changed while being opened; deciding again", key)
    raise StoreUnavailable(f"{key} kept changing while being opened")


async def _respond_signed(
    request: web.Request, info: ObjectInfo, grant: Grant
) -> web.StreamResponse:
    """A playlist with the request's token in every URI (origin.signed)."""
    outcome = evaluate(request.method, without_range(request.headers), info)
    cache = private_cache_control(cache_control(info))
    if outcome.decision is Decision.NOT_MODIFIED:
        not_modified = web.StreamResponse(
            status=304, headers={**validator_headers(info), "Cache-Control": cache}
        )
        add_cors_headers(not_modified)
        return not_modified
    if outcome.decision is not Decision.SEND:
        return await _respond(request, request.app[SOURCE], info, outcome)
    store = request.app[BACKENDS].store
    try:
        async with asyncio.timeout(request.app[SETTINGS].store_timeout):
            body = await signed_playlist(store, info, grant.token)
    except TimeoutError:
        raise StoreUnavailable(f"no answer in time reading {info.key}") from None
    except OSError as exc:
        raise StoreUnavailable(f"read {info.key}: {exc}") from exc
    headers = {**representation_headers(info), "Cache-Control": cache}
    response = web.Response(status=200, body=body, headers=headers)
    add_cors_headers(response)
    return response


async def _respond(
    request: web.Request, source: ObjectSource, info: ObjectInfo, outcome: Outcome
) -> web.StreamResponse:
    decision = outcome.decision
    if decision is Decision.NOT_MODIFIED:
        not_modified = web.StreamResponse(status=304, headers=validator_headers(info))
        add_cors_headers(not_modified)
        return not_modified
    if decision is Decision.PRECONDITION_FAILED:
        raise ApiError(ErrorCode.PRECONDITION_FAILED)
    if decision is Decision.NOT_SATISFIABLE:
        raise ApiError(
            ErrorCode.RANGE_NOT_SATISFIABLE,
            headers={
                "Content-Range": unsatisfied_content_range(info.size),
                "Accept-Ranges": "bytes",
            },
        )

    headers = representation_headers(info)
    start, length = 0, info.size
    if outcome.byte_range is not None:
        start, length = outcome.byte_range.start, outcome.byte_range.length
        headers["Content-Range"] = outcome.byte_range.content_range(info.size)
    response = web.StreamResponse(status=decision.value, headers=headers)
    response.content_length = length
    add_cors_headers(response)
    if request.method != "GET" or length == 0:
        return response

    body = await source.open(info, start, length)  # ObjectChanged here: decide again
    try:
        await response.prepare(request)
    except ConnectionResetError:
        await body.aclose()
        return response
    await body.send(request, response)
    return response
