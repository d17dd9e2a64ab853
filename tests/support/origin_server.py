"""A real origin on 127.0.0.1 (port 0) over a LocalStore in a temporary directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from origin.app import add_routes, create_app
from origin.fastserver import FastSite
from vodstack.backends import Backends
from vodstack.settings import Settings
from vodstack.store import ObjectStore
from vodstack.web import BACKENDS, base_app

VIDEO_ID = "AbCdEfGhIjKlMnOp"
OTHER_VIDEO_ID = "ZyXwVuTsRqPoNmLk"


@dataclass
class RunningOrigin:
    app: web.Application
    runner: web.AppRunner
    host: str
    port: int
    store_dir: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def store(self) -> ObjectStore:
        return self.app[BACKENDS].store


def origin_settings(data_dir: Path, *, store_timeout: float = 5.0, **overrides: Any) -> Settings:
    """`overrides`: other Settings fields (the origin's cache settings, for instance)."""
    return Settings(
        data_dir=data_dir, store=f"file://{data_dir / 'store'}", store_timeout=store_timeout,
        **overrides,
    )


def origin_app_with_store(settings: Settings, store: ObjectStore) -> web.Application:
    """An origin app over a given store (a wrapper that injects a fault, for instance)."""
    app = base_app(settings, Backends(store_=store))
    add_routes(app)
    return app


SERVERS = ("fast", "aiohttp")
"""How an origin app can be served: `vodstack origin`'s fast server in front of the app
(origin.fastserver), or aiohttp alone (as inside `vodstack serve`)."""


@asynccontextmanager
async def running(
    app: web.Application, store_dir: Path, *, server: str = "aiohttp"
) -> AsyncIterator[RunningOrigin]:
    """Serve `app` on a free loopback port until the block ends (`server`: see SERVERS)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site: web.BaseSite
        if server == "fast":
            site = FastSite(runner, "127.0.0.1", 0)
        else:
            site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield RunningOrigin(app, runner, "127.0.0.1", port, store_dir)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_origin(
    data_dir: Path, *, store_timeout: float = 5.0, server: str = "aiohttp", **overrides: Any
) -> AsyncIterator[RunningOrigin]:
    app = create_app(origin_settings(data_dir, store_timeout=store_timeout, **overrides))
    async with running(app, data_dir / "store", server=server) as origin:
        yield origin
