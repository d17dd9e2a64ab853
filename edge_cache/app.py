"""`create_app(settings)`: the edge cache as an aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource

from edge_cache import admin, health
from edge_cache.metrics import EdgeMetrics, EdgeStateCollector
from edge_cache.proxy import EdgeProxy, ProxyConfig, no_expect_handler
from edge_cache.signed import PlaybackGuard
from edge_cache.store import ResponseStore
from edge_cache.upstreams import PoolConfig, UpstreamPool
from edge_cache.warm import Warmer
from vodstack.access import access_middleware, observe_requests
from vodstack.catalog import open_catalog
from vodstack.metrics import Metrics
from vodstack.settings import Settings
from vodstack.web import RETRY_AFTER_SECONDS, SETTINGS, error_middleware, healthz, json_response

PROXIED: web.AppKey[AbstractResource] = web.AppKey("edge_proxied_resource", AbstractResource)
"""The catch-all resource whose requests go to the upstreams."""


def build_proxy(
    settings: Settings, *, unix_socket: str | None = None, metrics: EdgeMetrics | None = None
) -> EdgeProxy:
    if not settings.upstream:
        raise ValueError("the edge needs at least one --upstream URL")
    store = ResponseStore(
        capacity=settings.cache_size,
        max_object=max(1, int(settings.cache_size * settings.max_object_fraction)),
    )
    pool = UpstreamPool(
        list(settings.upstream),
        PoolConfig(
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_timeout,
            breaker_threshold=settings.breaker_threshold,
            breaker_cooldown=settings.breaker_cooldown,
            health_interval=settings.health_check_interval,
            health_path=settings.health_check_path,
            policy=settings.lb_policy,
            unix_socket=unix_socket,
        ),
        observer=metrics,
    )
    config = ProxyConfig(
        collapse_timeout=settings.collapse_timeout,
        stale_if_error=settings.edge_stale_if_error,
    )
    return EdgeProxy(store, pool, config, metrics=metrics)


async def readyz(request: web.Request) -> web.Response:
    """Ready when at least one upstream is in rotation."""
    proxy = request.app[admin.PROXY]
    if proxy.pool.any_available():
        return json_response({"status": "ok"})
    return json_response(
        {"status": "unavailable", "problems": ["no upstream is healthy"]},
        status=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def create_app(
    settings: Settings,
    *,
    unix_socket: str | None = None,
    stack_health: bool = False,
    metrics: Metrics | None = None,
) -> web.Application:
    """The edge: /healthz, /readyz, /metrics, /_edge/* and everything else proxied through
    the cache.

    `unix_socket`: reach the upstream through this socket. `stack_health`: /healthz and
    /readyz also ask the upstreams' own (for an edge in front of its own stack).
    `metrics`: a registry shared with other apps of the process (one edge per registry).
    """
    metrics = metrics if metrics is not None else Metrics()
    proxy = build_proxy(settings, unix_socket=unix_socket, metrics=metrics.group(EdgeMetrics))
    metrics.registry.register(EdgeStateCollector(proxy))
    app = web.Application(middlewares=[access_middleware, error_middleware])
    observe_requests(app, metrics, log_requests=settings.access_log)
    app[SETTINGS] = settings
    app[admin.PROXY] = proxy
    app[admin.WARMER] = Warmer(
        proxy.fill, concurrency=settings.warm_concurrency, max_bytes=settings.warm_max_bytes
    )
    if settings.purge_token:
        app[admin.TOKEN] = settings.purge_token
    catalog = open_catalog(settings) if settings.require_api_key else None
    if catalog is not None:
        app[admin.API_KEYS] = catalog.api_keys

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await proxy.pool.start()
        if catalog is not None:
            await catalog.start()
        yield
        if catalog is not None:
            await catalog.close()
        await app[admin.WARMER].close()
        await proxy.close()
        await proxy.pool.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", health.stack_healthz if stack_health else healthz)
    app.router.add_get("/readyz", health.stack_readyz if stack_health else readyz)
    admin.add_routes(app)
    handler = proxy.handle
    if settings.playback_secret is not None:
        handler = PlaybackGuard(proxy, settings.playback_secret).handle
    route = app.router.add_route("*", "/{tail:.*}", handler, expect_handler=no_expect_handler)
    assert route.resource is not None
    app[PROXIED] = route.resource
    return app
