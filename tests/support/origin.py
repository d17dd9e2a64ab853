"""A real upstream HTTP server for edge tests: per-path behaviour, every request recorded."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]


@dataclass
class Origin:
    """Routes by path; `hits[path_qs]` counts requests (health checks excluded)."""

    routes: dict[str, Handler] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    seen: list[Seen] = field(default_factory=list)
    health_checks: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/healthz":
            self.health_checks += 1
            return web.json_response({"status": "ok"})
        self.hits[request.path_qs] += 1
        self.seen.append(Seen(request.method, request.path_qs, CIMultiDictProxy(
            CIMultiDict(request.headers)
        )))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="no such route")
        return await handler(request)

    def serve(
        self,
        path: str,
        body: bytes = b"hello",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        etag: str | None = None,
        not_modified_headers: Mapping[str, str] | None = None,
    ) -> None:
        """A fixed answer; with `etag`, a matching If-None-Match gets a 304 (with
        `not_modified_headers`)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            if delay:
                await asyncio.sleep(delay)
            out_headers = dict(headers or {})
            if etag is not None:
                out_headers["ETag"] = etag
                if request.headers.get("If-None-Match") == etag:
                    return web.Response(
                        status=304, headers={"ETag": etag, **(not_modified_headers or {})}
                    )
            return web.Response(status=status, body=body, headers=out_headers)

        self.routes[path] = handler

    def last(self, path_qs: str) -> Seen:
        return [seen for seen in self.seen if seen.path_qs == path_qs][-1]


class FakeClock:
    """A wall clock that moves only when told to (starts at the real time)."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
