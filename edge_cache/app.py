"""`create_app(settings)`: the edge cache as an aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from edge_cache import admin
from edge_cache.metrics import EdgeMetrics, EdgeStateCollector
from edge_cache.proxy import EdgeProxy, ProxyConfig
from edge_cache.store import ResponseStore
from edge_cache.upstreams import PoolConfig, UpstreamPool
from edge_cache.warm import Warmer
from vodstack.access import access_middleware, observe_requests
from vodstack.metrics import Metrics
from vodstack.settings import Settings
from vodstack.web import RETRY_AFTER_SECONDS, SETTINGS, error_middleware, healthz, json_response


def build_proxy(settings: Settings, metrics: EdgeMetrics | None = None) -> EdgeProxy:
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


def create_app(settings: Settings, metrics: Metrics | None = None) -> web.Application:
    """The edge: /healthz, /readyz, /metrics, /_edge/* and everything else proxied through
    the cache. One edge per `metrics` registry."""
    metrics = metrics if metrics is not None else Metrics()
    proxy = build_proxy(settings, metrics.group(EdgeMetrics))
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

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await proxy.pool.start()
        yield
        await app[admin.WARMER].close()
        await proxy.close()
        await proxy.pool.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    admin.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    return app
