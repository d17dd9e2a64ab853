"""A counting reverse proxy in the test's event loop: what a server was asked, and answered.

It forwards GETs to a real upstream and counts each request by path, status and body
bytes, so a client's own account of its requests can be checked against the server side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from vodstack.server import bound_url

FORWARDED_HEADERS = ("Content-Type", "Cache-Control", "ETag", "Last-Modified", "X-Cache")


@dataclass
class Seen:
    paths: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    body_bytes: int = 0

    @property
    def requests(self) -> int:
        return sum(self.paths.values())

    def ending_with(self, suffix: str) -> int:
        return sum(n for path, n in self.paths.items() if path.endswith(suffix))


@asynccontextmanager
async def counting_proxy(upstream: str) -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    async with aiohttp.ClientSession() as http:

        async def forward(request: web.Request) -> web.Response:
            headers = {k: v for k, v in request.headers.items() if k in {"Range", "If-None-Match"}}
            async with http.get(upstream + request.path_qs, headers=headers) as answer:
                body = await answer.read()
                kept = {k: answer.headers[k] for k in FORWARDED_HEADERS if k in answer.headers}
            seen.paths[request.path] += 1
            seen.statuses[answer.status] += 1
            seen.body_bytes += len(body)
            return web.Response(status=answer.status, body=body, headers=kept)

        app = web.Application()
        app.router.add_get("/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            yield bound_url(runner, "127.0.0.1"), seen
        finally:
            await runner.cleanup()
