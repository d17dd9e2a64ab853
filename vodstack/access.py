"""Observing each request: its id, one access log line and the HTTP metrics.

`observe_requests(app, metrics, ...)` installs it on an app made with `access_middleware`
as its outermost middleware. The middleware sends the answer itself before measuring, so
the duration runs to the last byte and the byte count is what went out; an answer made
before any middleware ran (an `Expect: 100-continue` refusal) is caught when it is prepared.

In `vodstack serve` an edge app proxies to the services' app in the same process: the
edge records every request once, labelled with the route of the service app that answers
it (`label_proxied_requests`), and the service app only takes the request id over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource, UrlDispatcher

from vodstack.metrics import METRICS, Metrics, metrics_handler
from vodstack.metrics.http import KNOWN_METHODS, UNMATCHED_ROUTE, HttpMetrics
from vodstack.request_ids import HEADER, current_request_id, request_id_from

access_log = logging.getLogger("vodstack.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
_SEEN: web.RequestKey[bool] = web.RequestKey("vodstack_access_seen", bool)
_ROUTE: web.RequestKey[str] = web.RequestKey("vodstack_access_route", str)

CLIENT_CLOSED = 499
"""Status recorded when the client went away before the whole answer was sent (as nginx)."""

QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probed every few seconds by orchestrators and Prometheus: logged at debug level only."""


def request_id_of(request: web.Request) -> str:
    """This request's id: the caller's `X-Request-Id` when sane, else a generated one."""
    request_id = request.get(REQUEST_ID)
    if request_id is None:
        request_id = request_id_from(request.headers.get(HEADER))
        request[REQUEST_ID] = request_id
    return request_id


def route_label(request: web.Request) -> str:
    """The route template (`/v/{video_id}/{path}`), so ids never become label values."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


async def _route_behind(router: UrlDispatcher, request: web.Request) -> str:
    match_info = await router.resolve(request)  # matching only: nothing is changed
    resource = match_info.route.resource if match_info.route is not None else None
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


class AccessRecorder:
    def __init__(
        self, metrics: HttpMetrics, *, log_requests: bool = True, records: bool = True
    ) -> None:
        self.metrics = metrics
        self.log_requests = log_requests
        self.records = records
        """False for an app whose requests all come through an edge that records them."""
        self.proxied: AbstractResource | None = None
        self.behind: UrlDispatcher | None = None
        """Requests matched by `proxied` are labelled with the route `behind` matches."""

    def record(self, request: web.Request, status: int, sent: int, seconds: float) -> None:
        route = request.get(_ROUTE) or route_label(request)
        method = request.method
        if method not in KNOWN_METHODS:
            method = "other"
        self.metrics.observe(route, method, status, sent, seconds)
        if not self.log_requests:
            return
        path = request.rel_url.raw_path  # still percent-encoded: no control characters
        level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        duration_ms = round(seconds * 1000, 1)
        remote = request.remote or "-"
        request_id = request_id_of(request)
        access_log.log(
            level,
            "%s %s %d %dB %.1fms from %s",
            request.method, path, status, sent, duration_ms, remote,
            extra={
                "method": request.method,
                "path": path,
                "route": route,
                "status": status,
                "bytes": sent,
                "duration_ms": duration_ms,
                "remote": remote,
                "request_id": request_id,
            },
        )


ACCESS: web.AppKey[AccessRecorder] = web.AppKey("access_recorder", AccessRecorder)


@web.middleware
async def access_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    recorder = request.app.get(ACCESS)
    if recorder is None:
        return await handler(request)
    request[_SEEN] = True
    token = current_request_id.set(request_id_of(request))
    if not recorder.records:
        try:
            return await handler(request)
        finally:
            current_request_id.reset(token)
    if recorder.behind is not None and request.match_info.route.resource is recorder.proxied:
        request[_ROUTE] = await _route_behind(recorder.behind, request)
    in_flight = recorder.metrics.in_flight
    in_flight.value += 1
    started = time.perf_counter()
    status = CLIENT_CLOSED
    sent = 0
    try:
        response = await handler(request)
        try:
            await response.prepare(request)  # aiohttp does not send it twice
            await response.write_eof()
        except ConnectionError:
            # The client went away. aiohttp's own attempt to finish the answer meets the
            # same closed connection and ends quietly, as it would without this middleware.
            return response
        status, sent = response.status, response.body_length
        return response
    except web.HTTPException as exc:  # raised past the error middleware (a redirect)
        status = exc.status
        raise
    except (ConnectionError, asyncio.CancelledError):
        raise  # the client went away (or the server is stopping): recorded as 499
    except Exception:
        status = 500
        raise
    finally:
        in_flight.value -= 1
        recorder.record(request, status, sent, time.perf_counter() - started)
        current_request_id.reset(token)


async def _on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[HEADER] = request_id_of(request)
    if request.get(_SEEN):
        return
    # Answered before the middleware ran: an expect handler's refusal, decided from the
    # header fields alone, so its time is nil and its size the body about to be sent.
    recorder = request.app.get(ACCESS)
    if recorder is not None and recorder.records:
        request[_SEEN] = True
        recorder.record(request, response.status, response.content_length or 0, 0.0)


def observe_requests(
    app: web.Application, metrics: Metrics, *, log_requests: bool = True, records: bool = True
) -> None:
    """Record every request of `app` (made with `access_middleware` first) and serve
    `GET /metrics` from `metrics`. With `records=False` the app only takes request ids
    over (an edge in front, in the same process, records its requests)."""
    app[METRICS] = metrics
    app[ACCESS] = AccessRecorder(
        metrics.group(HttpMetrics), log_requests=log_requests, records=records
    )
    app.on_response_prepare.append(_on_response_prepare)
    app.router.add_get("/metrics", metrics_handler)


def label_proxied_requests(
    app: web.Application, proxied: AbstractResource, behind: web.Application
) -> None:
    """Label the requests `app` passes on through `proxied` with `behind`'s route templates
    (`behind` runs in the same process, so its router can be asked)."""
    recorder = app[ACCESS]
    recorder.proxied = proxied
    recorder.behind = behind.router
