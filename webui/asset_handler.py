"""`GET /assets/<version>/<name>`: the in-memory assets with validators and gzip."""

from __future__ import annotations

from aiohttp import web

from vodstack.errors import ApiError, ErrorCode
from webui import policy
from webui.state import WEBUI

MAX_SHOWN_NAME = 64


async def asset(request: web.Request) -> web.Response:
    """`GET /assets/<version>/<name>`: immutable under the current version, gzip when asked."""
    ui = request.app[WEBUI]
    name = request.match_info["name"]
    item = ui.bundle.get(name)
    if item is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No asset named {name[:MAX_SHOWN_NAME]!r}.")
    current = request.match_info["version"] == ui.bundle.version
    use_gzip = item.gzip_body is not None and policy.accepts_gzip(
        request.headers.get("Accept-Encoding")
    )
    body, etag = (item.gzip_body, item.gzip_etag) if use_gzip else (item.body, item.etag)
    headers = {
        "Cache-Control": policy.VERSIONED_ASSET_CACHE_CONTROL
        if current
        else policy.STALE_VERSION_CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if item.gzip_body is not None:
        headers["Vary"] = "Accept-Encoding"
    if policy.not_modified(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = item.content_type
    return web.Response(body=body, headers=headers)
