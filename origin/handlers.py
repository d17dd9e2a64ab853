"""The media route of the aiohttp app: a request in, `origin.service` decides, a response out.

`vodstack origin` answers most media requests in its fast HTTP/1.1 server
(`origin.fastserver`); this handler serves them inside `vodstack serve`, on connections
the fast server handed to aiohttp, and in tests of the app itself. Both send the same
replies.
"""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import CIMultiDict

from origin.body import ResponseSink
from origin.conditional import combine_fields
from origin.replies import Reply
from origin.service import MediaRequest, MediaService
from origin.source import ObjectSource
from vodstack.playback.tokens import QUERY_PARAMETER

log = logging.getLogger(__name__)

SOURCE: web.AppKey[ObjectSource] = web.AppKey("origin_source")
MEDIA: web.AppKey[MediaService] = web.AppKey("origin_media", MediaService)


async def media(request: web.Request) -> web.StreamResponse:
    """GET/HEAD /v/<video_id>/<path>: the object `videos/<video_id>/<path>`."""
    service = request.app[MEDIA]
    query_token = None
    if service.playback_secret is not None:
        query_token = request.query.get(QUERY_PARAMETER)
    media_request = MediaRequest(
        request.method,
        request.rel_url.raw_path,
        combine_fields(request.headers.items()),
        query_token,
    )
    reply = service.answer_now(media_request) or await service.answer(media_request)
    return await send_reply(request, reply)


async def send_reply(request: web.Request, reply: Reply) -> web.StreamResponse:
    response = web.StreamResponse(status=reply.status, headers=CIMultiDict(reply.fields.pairs))
    if reply.length is not None:
        response.content_length = reply.length
    body = reply.body
    if body is not None and request.method == "HEAD":  # e.g. an error's JSON: never sent
        if not isinstance(body, bytes | bytearray | memoryview):
            await body.aclose()
        body = None
    if body is None:
        return response  # aiohttp sends the header fields (a HEAD gets no body)
    try:
        await response.prepare(request)
    except ConnectionResetError:
        if not isinstance(body, bytes | bytearray | memoryview):
            await body.aclose()
        return response
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            await response.write(body)
        except ConnectionError:
            log.debug("client went away during %s %s", request.method, request.path)
        return response
    await body.send(ResponseSink(request, response))
    return response
