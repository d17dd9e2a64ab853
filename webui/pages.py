"""Page handlers: the library and watch shells, and the 404 and 503 pages."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from aiohttp import web

from vodstack import keys
from vodstack.catalog import Video
from vodstack.errors import ErrorCode, QueueUnavailable
from vodstack.humanize import format_size
from vodstack.web import BACKENDS, RETRY_AFTER_SECONDS, SETTINGS
from webui import policy
from webui.hlsjs import HLSJS_NAME
from webui.render import Markup, escape, render
from webui.state import WEBUI, WebUI

log = logging.getLogger(__name__)

MAX_SHOWN_ID = 64
NO_SCRIPTS = Markup("")


def display_title(video: Video) -> str:
    return video.title or video.filename or "Untitled video"


def _scripts(ui: WebUI, *, classic: Sequence[str] = (), modules: Sequence[str] = ()) -> Markup:
    tags = [f'<script src="{escape(ui.bundle.url(name))}" defer></script>' for name in classic]
    tags += [
        f'<script type="module" src="{escape(ui.bundle.url(name))}"></script>' for name in modules
    ]
    return Markup("\n".join(tags))


def page_response(
    ui: WebUI,
    *,
    title: str,
    page_class: str,
    body: str,
    scripts: Markup = NO_SCRIPTS,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    text = render(
        ui.templates["layout"],
        {
            "title": title,
            "page_class": page_class,
            "icon_url": ui.bundle.url("icon.svg"),
            "css_url": ui.bundle.url("app.css"),
            "scripts": scripts,
            "body": Markup(body),
        },
    )
    all_headers = {**policy.page_headers(ui.csp), **(headers or {})}
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=all_headers
    )


async def library_page(request: web.Request) -> web.Response:
    """`GET /`: the upload form and the library; the list itself is filled by library.js."""
    ui = request.app[WEBUI]
    body = render(
        ui.templates["library"],
        {"max_upload": format_size(request.app[SETTINGS].max_upload_size)},
    )
    return page_response(
        ui,
        title="Library",
        page_class="library-page",
        body=body,
        scripts=_scripts(ui, modules=["library.js"]),
    )


async def watch_page(request: web.Request) -> web.Response:
    """`GET /watch/<id>`: the player shell; watch.js follows the status API to playback."""
    ui = request.app[WEBUI]
    video_id = request.match_info["video_id"]
    try:
        video = await _find_video(request, video_id)
    except QueueUnavailable as exc:
        log.warning("catalogue unavailable for the watch page of %s: %s", video_id[:64], exc)
        return _unavailable_page(ui)
    if video is None:
        return not_found_page(ui, video_id)
    hlsjs = ui.bundle.hlsjs
    body = render(
        ui.templates["watch"],
        {
            "video_id": video.id,
            "title": display_title(video),
            "hlsjs_hint": hlsjs.install_hint if hlsjs.path is None else "",
        },
    )
    classic = [HLSJS_NAME] if hlsjs.path is not None else []
    return page_response(
        ui,
        title=display_title(video),
        page_class="watch-page",
        body=body,
        scripts=_scripts(ui, classic=classic, modules=["watch.js"]),
    )


async def _find_video(request: web.Request, video_id: str) -> Video | None:
    if not keys.is_video_id(video_id):
        return None
    return await request.app[BACKENDS].catalog.get(video_id)


def not_found_page(ui: WebUI, video_id: str) -> web.Response:
    body = render(ui.templates["not_found"], {"video_id": video_id[:MAX_SHOWN_ID]})
    return page_response(
        ui, title="Video not found", page_class="message-page", body=body, status=404
    )


def _unavailable_page(ui: WebUI) -> web.Response:
    body = render(
        ui.templates["message"],
        {
            "heading": "Temporarily unavailable",
            "message": ErrorCode.QUEUE_UNAVAILABLE.default_message,
        },
    )
    return page_response(
        ui,
        title="Temporarily unavailable",
        page_class="message-page",
        body=body,
        status=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )
