"""Headers on every answer under /v1/uploads: Tus-Resumable and CORS for browser clients.

Uploads authenticate with `Authorization: Bearer`, never cookies, so `*` is safe: no
credentials ride along, and any page may use the API with a key it was given.
"""

from __future__ import annotations

from aiohttp import web

from ingest.tus.protocol import TUS_VERSION

UPLOADS_PREFIX = "/v1/uploads"
ALLOW_METHODS = "POST, HEAD, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Upload-Offset, Upload-Length, Upload-Metadata, "
    "Upload-Checksum, Upload-Defer-Length, Upload-Concat, Tus-Resumable, "
    "X-HTTP-Method-Override, X-Requested-With, X-Request-Id"
)
EXPOSE_HEADERS = (
    "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, "
    "Upload-Defer-Length, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
    "Tus-Checksum-Algorithm, Vodstack-Video-Id, Vodstack-Video-Url"
)
PREFLIGHT_MAX_AGE = "86400"


def is_upload_path(path: str) -> bool:
    return path == UPLOADS_PREFIX or path.startswith(UPLOADS_PREFIX + "/")


async def add_upload_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every tus answer, errors included, carries these."""
    if not is_upload_path(request.path):
        return
    response.headers.setdefault("Tus-Resumable", TUS_VERSION)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    response.headers.setdefault("Cache-Control", "no-store")


def preflight_headers() -> dict[str, str]:
    return {
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    }
