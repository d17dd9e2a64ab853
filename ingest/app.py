"""The upload API as routes on any vodstack app, or as its own service (`vodstack ingest`)."""

from __future__ import annotations

from aiohttp import web

import webui.app
from ingest.upload import create_video, expect_upload
from ingest.videos import delete_video, get_video, list_videos, patch_video
from vodstack.backends import Backends
from vodstack.settings import Settings
from vodstack.web import base_app

VIDEOS_PATH = "/v1/videos"
VIDEO_PATH = "/v1/videos/{video_id}"


def add_routes(app: web.Application) -> None:
    """Add the `/v1/videos` API and the pages using it to an app made by `base_app`."""
    app.router.add_post(VIDEOS_PATH, create_video, expect_handler=expect_upload)
    app.router.add_get(VIDEOS_PATH, list_videos)
    app.router.add_get(VIDEO_PATH, get_video)
    app.router.add_patch(VIDEO_PATH, patch_video)
    app.router.add_delete(VIDEO_PATH, delete_video)
    webui.app.add_routes(app)


def create_app(settings: Settings) -> web.Application:
    """A standalone upload service with its own store, queue and catalogue connections."""
    app = base_app(settings, Backends.from_settings(settings))
    add_routes(app)
    return app
