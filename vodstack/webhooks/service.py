"""Running a webhook dispatcher inside an aiohttp application (serve, ingest, worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vodstack.web import BACKENDS, SETTINGS
from vodstack.webhooks.dispatcher import Dispatcher

DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("webhook_dispatcher", Dispatcher)


def attach_dispatcher(app: web.Application) -> Dispatcher | None:
    """Send webhooks while `app` runs, when any are configured (added after the backends'
    cleanup context, so it starts once they are open and stops before they close)."""
    settings = app[SETTINGS]
    if not settings.webhook_urls:
        return None
    dispatcher = Dispatcher(settings, app[BACKENDS].catalog.outbox)
    app[DISPATCHER] = dispatcher

    async def dispatcher_ctx(app: web.Application) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()

    app.cleanup_ctx.append(dispatcher_ctx)
    return dispatcher
