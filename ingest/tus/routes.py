"""Adding the tus endpoints, their headers and the expiry sweeper to an app."""

from __future__ import annotations

from aiohttp import web

from ingest.tus import handlers
from ingest.tus.cors import UPLOADS_PREFIX, add_upload_headers
from ingest.tus.sweeper import attach_sweeper
from vodstack.web import BACKENDS, SETTINGS

UPLOAD_PATH = UPLOADS_PREFIX + "/{upload_id}"


def add_tus_routes(app: web.Application) -> None:
    app.router.add_route("OPTIONS", UPLOADS_PREFIX, handlers.options)
    app.router.add_route("OPTIONS", UPLOADS_PREFIX + "/", handlers.options)
    app.router.add_post(UPLOADS_PREFIX, handlers.create)
    app.router.add_post(UPLOADS_PREFIX + "/", handlers.create)
    app.router.add_route("OPTIONS", UPLOAD_PATH, handlers.options)
    app.router.add_route("HEAD", UPLOAD_PATH, handlers.head)
    app.router.add_patch(UPLOAD_PATH, handlers.patch)
    app.router.add_delete(UPLOAD_PATH, handlers.delete)
    app.on_response_prepare.append(add_upload_headers)
    attach_sweeper(app, app[SETTINGS], app[BACKENDS])
