"""The origin's routes, for the standalone origin and for the one-process stack."""

from __future__ import annotations

from aiohttp import web

from origin.breaker import BreakerSource
from origin.cors import preflight
from origin.freshness import CachePolicy
from origin.handlers import MEDIA, SOURCE, media
from origin.objects import MediaObjects
from origin.service import MediaService
from origin.source import StoreSource
from vodstack import keys
from vodstack.backends import Backends
from vodstack.settings import Settings
from vodstack.store import ObjectStore
from vodstack.store.local import LocalStore
from vodstack.store.metered import MeteredStore, unwrapped
from vodstack.web import BACKENDS, ON_VIDEO_CHANGED, SETTINGS, base_app

MEDIA_ROUTE = "/v/{video_id}/{path:.+}"


def cache_policy(settings: Settings) -> CachePolicy:
    return CachePolicy(
        memory_bytes=settings.origin_cache_size,
        max_memory_object=settings.origin_cache_max_object,
        open_files=settings.origin_open_files,
        mutable=settings.origin_recheck,
        immutable=settings.origin_recheck_immutable,
    )


def local_store_of(store: ObjectStore) -> LocalStore | None:
    """The local store whose files the origin may open itself, if that is what it serves
    (metering only observes, so it is looked through; a wrapper that changes behaviour, as
    tests use, is served through the store API)."""
    inner = unwrapped(store)
    return inner if isinstance(inner, LocalStore) else None


def media_service(settings: Settings, store: ObjectStore) -> tuple[BreakerSource, MediaService]:
    source = BreakerSource(
        StoreSource(store, settings.store_timeout),
        threshold=settings.store_breaker_threshold,
        cooldown=settings.store_breaker_cooldown,
    )
    objects = MediaObjects(
        source,
        cache_policy(settings),
        timeout=settings.store_timeout,
        local=local_store_of(store),
        metrics=store.metrics if isinstance(store, MeteredStore) else None,
    )
    service = MediaService(
        objects, store, playback_secret=settings.playback_secret, timeout=settings.store_timeout
    )
    return source, service


def add_routes(app: web.Application) -> None:
    """Serve `/v/<video_id>/<path>` from the app's store (GET, HEAD, CORS preflight).

    Other methods get 405 with `Allow` from the router, as JSON via the error middleware.
    """
    source, service = media_service(app[SETTINGS], app[BACKENDS].store)
    app[SOURCE] = source
    app[MEDIA] = service
    app.router.add_get(MEDIA_ROUTE, media)  # HEAD is routed to the same handler
    app.router.add_route("OPTIONS", MEDIA_ROUTE, preflight)

    async def release_objects(app: web.Application) -> None:
        app[MEDIA].objects.close()

    app.on_cleanup.append(release_objects)

    def forget_video(video_id: str) -> None:
        app[MEDIA].objects.forget_prefix(keys.video_prefix(video_id))

    app.setdefault(ON_VIDEO_CHANGED, []).append(forget_video)


def create_app(settings: Settings) -> web.Application:
    """A standalone origin: only the object store, no queue or catalogue."""
    app = base_app(settings, Backends.from_settings(settings, queue=False, catalog=False))
    add_routes(app)
    return app
