"""CORS for media: any page may play a published video (Fetch standard, CORS protocol).

`Access-Control-Allow-Origin: *` is the same for every request, whatever its Origin, so the
response does not vary by Origin and needs no `Vary: Origin`: one cached copy at an edge or
a browser serves every site. `*` also means no credentials, which public media never needs.
"""

from __future__ import annotations

from aiohttp import web

ALLOW_ORIGIN = "*"
ALLOW_METHODS = "GET, HEAD, OPTIONS"
# Request headers a player may send that are not CORS-safelisted (Range is safelisted only
# in its simplest single-range form).
ALLOW_HEADERS = (
    "Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, "
    "Cache-Control"
)
# Response headers a script may read besides the safelisted ones.
EXPOSE_HEADERS = "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, Age, Date"
# Browsers cap this (Chromium at 2 hours); a day lets each cap apply.
PREFLIGHT_MAX_AGE = "86400"

MEDIA_CORS_HEADERS = {
    "Access-Control-Allow-Origin": ALLOW_ORIGIN,
    "Access-Control-Expose-Headers": EXPOSE_HEADERS,
}


def add_cors_headers(response: web.StreamResponse) -> None:
    response.headers.update(MEDIA_CORS_HEADERS)


async def preflight(request: web.Request) -> web.Response:
    """Answer a CORS preflight for any media path; what may be sent does not depend on it."""
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": ALLOW_ORIGIN,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )
