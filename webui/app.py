"""The pages as routes on any vodstack app that has a catalogue (see `ingest.app`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from vodstack.settings import Settings
from vodstack.web import SETTINGS
from webui import policy
from webui.asset_handler import asset
from webui.assets import ASSET_ROUTE, load_bundle
from webui.hlsjs import find_hlsjs
from webui.pages import library_page, watch_page
from webui.render import load_templates
from webui.state import WEBUI, WebUI

log = logging.getLogger(__name__)

LIBRARY_PATH = "/"
WATCH_PATH = "/watch/{video_id}"


def add_routes(app: web.Application) -> None:
    """`/` (library), `/watch/<id>` (player) and `/assets/...`; assets load at start-up."""
    app.cleanup_ctx.append(_webui_ctx)
    app.router.add_get(LIBRARY_PATH, library_page)
    app.router.add_get(WATCH_PATH, watch_page)
    app.router.add_get(ASSET_ROUTE, asset)


def load_webui(settings: Settings, cwd: Path | None = None) -> WebUI:
    """Templates, assets and hls.js read from disk (blocking: run it in a thread)."""
    hlsjs = find_hlsjs(settings.hlsjs_path, Path.cwd() if cwd is None else cwd)
    bundle = load_bundle(hlsjs)
    if bundle.hlsjs.path is None:
        log.warning("%s The watch page will say so.", bundle.hlsjs.install_hint)
    # Playback and poster links start with media_url (the edge) when set, else public_url.
    media_origins = [
        origin
        for origin in (policy.origin_of(settings.public_url), policy.origin_of(settings.media_url))
        if origin
    ]
    return WebUI(
        bundle=bundle,
        templates=load_templates(),
        csp=policy.content_security_policy(media_origins),
    )


async def _webui_ctx(app: web.Application) -> AsyncIterator[None]:
    app[WEBUI] = await asyncio.to_thread(load_webui, app[SETTINGS])
    yield
