"""What every vodstack HTTP service shares: typed app keys, JSON errors, health endpoints."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from vodstack.access import access_middleware, observe_requests
from vodstack.backends import Backends
from vodstack.errors import ApiError, ErrorCode, QueueUnavailable, StoreUnavailable, code_for_status
from vodstack.metrics import Metrics
from vodstack.metrics.store import StoreMetrics
from vodstack.settings import Settings

log = logging.getLogger(__name__)

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
BACKENDS: web.AppKey[Backends] = web.AppKey("backends", Backends)
VideoChanged = Callable[[str], None]
ON_VIDEO_CHANGED: web.AppKey[list[VideoChanged]] = web.AppKey("on_video_changed", list)
"""Called with a video's id once its objects were deleted or (re)published, before edges
are told: parts of the same app that remember objects (the embedded origin) forget that
video's, so an edge that fetches again gets the new bytes."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NO_STORE = "no-store"
RETRY_AFTER_SECONDS = "5"


def json_response(
    data: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    cache_control: str = NO_STORE,
) -> web.Response:
    """A JSON answer; API responses are never cached unless the caller says otherwise."""
    response = web.json_response(
        data, status=status, headers=headers, dumps=lambda obj: json.dumps(obj, indent=None)
    )
    response.headers["Cache-Control"] = cache_control
    return response


def error_response(error: ApiError) -> web.Response:
    headers = {"Cache-Control": NO_STORE, **error.headers}
    return web.json_response(error.body(), status=error.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into `{"error": {"code", "message"}}` with the right status."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = code_for_status(exc.status)
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        api_error = ApiError(error, message, headers=_kept_headers(exc.headers))
        return error_response(api_error)
    except StoreUnavailable as exc:
        log.warning("store unavailable during %s %s: %s", request.method, request.path, exc)
        return error_response(
            ApiError(ErrorCode.STORE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
        )
    except QueueUnavailable as exc:
        log.warning("queue unavailable during %s %s: %s", request.method, request.path, exc)
        return error_response(
            ApiError(ErrorCode.QUEUE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
        )
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ApiError(ErrorCode.INTERNAL))


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {"Allow", "Retry-After", "Content-Range", "WWW-Authenticate"}
    return {name: value for name, value in headers.items() if name in kept}


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: every backend this service uses answers."""
    backends = request.app[BACKENDS]
    problems = await backends.problems()
    if problems:
        return json_response(
            {"status": "unavailable", "problems": problems},
            status=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    return json_response({"status": "ok"})


def base_app(
    settings: Settings,
    backends: Backends,
    *,
    client_max_size: int = 1024**2,
    metrics: Metrics | None = None,
    record_requests: bool = True,
) -> web.Application:
    """An application with vodstack's keys, middlewares, health endpoints and metrics.

    The backends are opened when the app starts and closed when it stops; the store is
    metered. Pass `metrics` to share one registry between apps of one process, and
    `record_requests=False` when an edge in front of the app, in the same process, records
    its requests.
    """
    app = web.Application(
        middlewares=[access_middleware, error_middleware], client_max_size=client_max_size
    )
    app[SETTINGS] = settings
    app[BACKENDS] = backends
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    metrics = metrics if metrics is not None else Metrics()
    observe_requests(
        app, metrics, log_requests=settings.access_log, records=record_requests
    )
    backends.instrument(metrics.group(StoreMetrics))
    if backends.queue_ is not None:
        metrics.watch_queue(backends.queue_)
        if settings.queue_url.startswith("sqlite://"):
            metrics.disk.watch("data", settings.data_dir)
    if backends.store_ is not None and settings.store_url.startswith("file://"):
        metrics.disk.watch("store", Path(urlsplit(settings.store_url).path))

    async def backends_ctx(app: web.Application) -> Any:
        await backends.start()
        yield
        await backends.close()

    app.cleanup_ctx.append(backends_ctx)
    return app
