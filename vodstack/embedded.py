"""The one-process stack behind `vodstack serve`: the edge cache in front of the upload API,
origin and worker.

Users reach the edge on --host/--port; it is the only listener on the network. The upload
API, origin and worker (the "internal app") listen on a private endpoint that is the edge's
one upstream: a unix socket in a fresh 0700 temporary directory (an ephemeral 127.0.0.1
port where there are no unix sockets; see docs/decisions.md for the measurements). Both
apps run on the same event loop. Media answers are cached by the edge; API answers are
`no-store` and pass through. Deleted videos are purged from the edge and published ones
warmed by direct calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Literal

from aiohttp import web

import ingest.app
import origin.app
import transcoder.service
from edge_cache import admin
from edge_cache.app import PROXIED
from edge_cache.app import create_app as create_edge_app
from edge_cache.fleet import EdgeFleet, LocalEdge, attach_edge_fleet
from vodstack.access import label_proxied_requests
from vodstack.backends import Backends
from vodstack.metrics import Metrics
from vodstack.server import SHUTDOWN_TIMEOUT, bound_url
from vodstack.settings import Settings
from vodstack.web import base_app
from vodstack.webhooks.service import attach_dispatcher

Link = Literal["unix", "tcp"]
DEFAULT_LINK: Link = "unix" if hasattr(socket, "AF_UNIX") and sys.platform != "win32" else "tcp"

SOCKET_NAME = "internal.sock"
UNIX_UPSTREAM = "http://localhost"
"""The edge's upstream URL over the socket: only the Host it sends (links in API answers
come from X-Forwarded-Host, the client's Host)."""
MAX_SOCKET_PATH = 100
"""sun_path holds 108 bytes on Linux (104 on macOS)."""


def build_embedded_app(
    settings: Settings,
    *,
    local_edge: LocalEdge | None = None,
    metrics: Metrics | None = None,
    record_requests: bool = True,
) -> web.Application:
    """Upload API, origin and (unless worker_concurrency is 0) a worker on one app.

    Deletes are purged from, and publications warmed on, `local_edge` and the `edges` in
    the settings. `metrics` and `record_requests`: see `vodstack.web.base_app`.
    """
    backends = Backends.from_settings(settings)
    app = base_app(settings, backends, metrics=metrics, record_requests=record_requests)
    attach_edge_fleet(app, EdgeFleet.from_settings(settings, local=local_edge))
    ingest.app.add_routes(app)
    origin.app.add_routes(app)
    if settings.worker_concurrency > 0:
        transcoder.service.attach_worker(app)
    attach_dispatcher(app)
    return app


def _private_socket_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="vodstack-"))  # mode 0700
    if len(str(directory / SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
        return directory
    directory.rmdir()
    return Path(tempfile.mkdtemp(prefix="vodstack-", dir="/tmp"))


async def _runner(app: web.Application) -> web.AppRunner:
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None)
    await runner.setup()
    return runner


class EmbeddedStack:
    """The edge on settings.host/port in front of the internal app; `start()` → edge URL."""

    def __init__(self, settings: Settings, *, link: Link = DEFAULT_LINK) -> None:
        self.settings = settings
        self.link = link
        self.edge_app: web.Application | None = None
        self.internal_app: web.Application | None = None
        self.internal_address = ""
        self.internal_runner: web.AppRunner | None = None
        self.edge_runner: web.AppRunner | None = None
        self._socket_dir: Path | None = None

    async def start(self) -> str:
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> str:
        settings = self.settings
        internal_sock: socket.socket | None = None
        if self.link == "unix":
            self._socket_dir = await asyncio.to_thread(_private_socket_dir)
            self.internal_address = str(self._socket_dir / SOCKET_NAME)
            upstream, unix_socket = UNIX_UPSTREAM, self.internal_address
        else:
            internal_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            internal_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            internal_sock.bind(("127.0.0.1", 0))
            self.internal_address = f"127.0.0.1:{internal_sock.getsockname()[1]}"
            upstream, unix_socket = f"http://{self.internal_address}", None

        edge_settings = dataclasses.replace(settings, upstream=(upstream,))
        # One registry for the process. The edge records every request (each passes it),
        # labelled with the route of the service that answers it; the app behind it only
        # takes the request id over.
        metrics = Metrics()
        self.edge_app = create_edge_app(
            edge_settings, unix_socket=unix_socket, stack_health=True, metrics=metrics
        )
        local = LocalEdge(self.edge_app[admin.PROXY], self.edge_app[admin.WARMER])
        self.internal_app = build_embedded_app(
            settings, local_edge=local, metrics=metrics, record_requests=False
        )
        label_proxied_requests(self.edge_app, self.edge_app[PROXIED], self.internal_app)

        self.internal_runner = await _runner(self.internal_app)
        if internal_sock is not None:
            await web.SockSite(self.internal_runner, internal_sock).start()
        else:
            await web.UnixSite(self.internal_runner, self.internal_address).start()
        self.edge_runner = await _runner(self.edge_app)
        await web.TCPSite(self.edge_runner, settings.host, settings.port).start()
        return bound_url(self.edge_runner, settings.host)

    async def stop(self) -> None:
        """The edge first (no new requests; those running finish), then the internal app
        (the worker hands its job back, the backends close)."""
        edge, self.edge_runner = self.edge_runner, None
        if edge is not None:
            await edge.cleanup()
        internal, self.internal_runner = self.internal_runner, None
        if internal is not None:
            await internal.cleanup()
        if self._socket_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._socket_dir, True)
            self._socket_dir = None
