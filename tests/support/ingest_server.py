"""The upload API running in the test's event loop on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ingest.app import create_app
from vodstack.backends import Backends
from vodstack.catalog import Catalog
from vodstack.queue import JobQueue
from vodstack.server import bound_url
from vodstack.settings import Settings
from vodstack.store import ObjectStore
from vodstack.web import BACKENDS


@dataclass
class IngestServer:
    url: str
    app: web.Application
    settings: Settings

    @property
    def backends(self) -> Backends:
        return self.app[BACKENDS]

    @property
    def store(self) -> ObjectStore:
        return self.backends.store

    @property
    def queue(self) -> JobQueue:
        return self.backends.queue

    @property
    def catalog(self) -> Catalog:
        return self.backends.catalog


StartIngest = Callable[..., Awaitable[IngestServer]]
"""The `start_ingest` fixture (tests/conftest.py): `await start_ingest(**settings)`."""


@contextlib.asynccontextmanager
async def running_ingest(
    settings: Settings, app: web.Application | None = None
) -> AsyncIterator[IngestServer]:
    app = app if app is not None else create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield IngestServer(bound_url(runner, "127.0.0.1"), app, settings)
    finally:
        await runner.cleanup()
