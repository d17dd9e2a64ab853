"""The upload API as routes on any vodstack app, or as its own service (`vodstack ingest`)."""

from __future__ import annotations

from aiohttp import web

import webui.app
from edge_cache.fleet import EdgeFleet, attach_edge_fleet
from ingest.tus.routes import add_tus_routes
from ingest.upload import create_video, expect_upload
from ingest.videos import delete_video, get_video, list_videos, patch_video, retry_video
from ingest.webhooks import list_deliveries
from vodstack.auth import auth_middleware, warn_without_keys
from vodstack.backends import Backends
from vodstack.settings import Settings
from vodstack.web import base_app
from vodstack.webhooks.service import attach_dispatcher

VIDEOS_PATH = "/v1/videos"
VIDEO_PATH = "/v1/videos/{video_id}"
RETRY_PATH = "/v1/videos/{video_id}/retry"


def add_routes(app: web.Application) -> None:
    """Add the `/v1/videos` and `/v1/uploads` API, with API-key checks (`vodstack.auth`),
    and the pages using it to an app made by `base_app`."""
    app.middlewares.append(auth_middleware)
    app.cleanup_ctx.append(warn_without_keys)
    app.router.add_post(VIDEOS_PATH, create_video, expect_handler=expect_upload)
    app.router.add_get(VIDEOS_PATH, list_videos)
    app.router.add_get(VIDEO_PATH, get_video)
    app.router.add_patch(VIDEO_PATH, patch_video)
    app.router.add_delete(VIDEO_PATH, delete_video)
    app.router.add_post(RETRY_PATH, retry_video)
    add_tus_routes(app)
    app.router.add_get("/v1/webhooks/deliveries", list_deliveries)
    webui.app.add_routes(app)


def create_app(settings: Settings) -> web.Application:
    """A standalone upload service with its own store, queue and catalogue connections;
    deletes are purged from the `edges` in the settings."""
    app = base_app(settings, Backends.from_settings(settings))
    attach_edge_fleet(app, EdgeFleet.from_settings(settings))
    add_routes(app)
    attach_dispatcher(app)
    return app
