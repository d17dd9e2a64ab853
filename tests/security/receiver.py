"""A webhook receiver for tests: a real aiohttp server that answers as it is told to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from vodstack.server import bound_url


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    url: str
    script: list[int | float] = field(default_factory=list)
    """Answers for the first requests, in order: a status, or seconds to hang (then 500)."""
    received: list[Received] = field(default_factory=list)
    accepted_events: list[str] = field(default_factory=list)
    """Event ids the receiver processed (answered 2xx and had not seen before)."""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(time.time(), dict(request.headers), body))
        answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            answer = 500
        if 200 <= answer < 300:
            event_id = json.loads(body)["id"]
            if event_id not in self.accepted_events:  # de-duplicate by event id
                self.accepted_events.append(event_id)
        return web.Response(status=answer, text="ok" if answer < 300 else "nope")

    async def wait_for(self, count: int, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.received)} of {count} deliveries arrived")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_receiver(script: list[int | float] | None = None) -> AsyncIterator[Receiver]:
    app = web.Application()
    receiver = Receiver(url="")
    receiver.script = list(script or [])
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        receiver.url = bound_url(runner, "127.0.0.1") + "/hook"
        yield receiver
    finally:
        await runner.cleanup()
