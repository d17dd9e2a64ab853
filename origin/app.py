"""The origin's routes, for the standalone origin and for the one-process stack."""

from __future__ import annotations

from aiohttp import web

from origin.breaker import BreakerSource
from origin.cors import preflight
from origin.handlers import SOURCE, media
from origin.source import StoreSource
from vodstack.backends import Backends
from vodstack.settings import Settings
from vodstack.web import BACKENDS, SETTINGS, base_app

MEDIA_ROUTE = "/v/{video_id}/{path:.+}"


def add_routes(app: web.Application) -> None:
    """Serve `/v/<video_id>/<path>` from the app's store (GET, HEAD, CORS preflight).

    Other methods get 405 with `Allow` from the router, as JSON via the error middleware.
    """
    settings = app[SETTINGS]
    app[SOURCE] = BreakerSource(
        StoreSource(app[BACKENDS].store, settings.store_timeout),
        threshold=settings.store_breaker_threshold,
        cooldown=settings.store_breaker_cooldown,
    )
    app.router.add_get(MEDIA_ROUTE, media)  # HEAD is routed to the same handler
    app.router.add_route("OPTIONS", MEDIA_ROUTE, preflight)


def create_app(settings: Settings) -> web.Application:
    """A standalone origin: only the object store, no queue or catalogue."""
    app = base_app(settings, Backends.from_settings(settings, queue=False, catalog=False))
    add_routes(app)
    return app
