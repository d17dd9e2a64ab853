"""Listening sockets of the edge: the hit path in front of aiohttp (or aiohttp alone)."""

from __future__ import annotations

import socket

from aiohttp import web

from edge_cache import admin
from edge_cache.app import PROXIED
from edge_cache.hitpath import HitObserver, HitServer, HitSite
from edge_cache.hitrecord import HitRecorder
from vodstack.access import ACCESS

DEFAULT_KEEPALIVE = 75.0
"""aiohttp's default keep-alive timeout, kept for connections on the hit path."""


def edge_site(
    runner: web.AppRunner,
    app: web.Application,
    *,
    host: str | None,
    port: int,
    hit_path: bool = True,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
) -> web.BaseSite:
    """The edge's TCP site: on `sock` when given, else bound to host:port."""
    if not hit_path:
        if sock is not None:
            return web.SockSite(runner, sock)
        return web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    proxy = app[admin.PROXY]
    observer: HitObserver | None = None
    if ACCESS in app and PROXIED in app:
        observer = HitRecorder(app, app[PROXIED].canonical, proxy.metrics)

    def hits(server: web.Server) -> HitServer:
        keepalive = float(server._kwargs.get("keepalive_timeout", DEFAULT_KEEPALIVE))
        return HitServer(
            proxy, server, keepalive_timeout=keepalive, observer=observer, clock=proxy.clock
        )

    return HitSite(runner, hits, host, port, reuse_port=reuse_port, sock=sock)
