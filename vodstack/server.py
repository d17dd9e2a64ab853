"""Running aiohttp applications until SIGINT/SIGTERM, printing where they listen."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from vodstack.logs import json_enabled

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 30.0
# Request line, one header field, and header count: larger requests get a 400 before any
# handler runs. Bodies are limited per endpoint (uploads by max_upload_size, JSON bodies by
# a few KiB).
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 100


def install_event_loop_policy() -> None:
    """uvloop when available: noticeably less CPU per request."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def bound_url(runner: web.AppRunner, host: str) -> str:
    """The base URL of the first socket the runner listens on (port 0 resolved)."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            shown = host if host not in {"0.0.0.0", "::", ""} else socket.gethostname()
            if ":" in shown:
                shown = f"[{shown}]"
            return f"http://{shown}:{address[1]}"
    raise RuntimeError("the server is not listening on a TCP socket")


async def serve_until_signal(
    app: web.Application,
    host: str,
    port: int,
    *,
    name: str = "vodstack",
    on_started: Callable[[str], Awaitable[None]] | None = None,
    make_site: Callable[[web.AppRunner], web.BaseSite] | None = None,
) -> None:
    """Start `app`, print its URL, wait for SIGINT/SIGTERM, then drain and stop.

    `make_site` replaces the plain `web.TCPSite(runner, host, port)` (the edge's hit path).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        app,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log=None,
        max_line_size=MAX_LINE_SIZE,
        max_field_size=MAX_FIELD_SIZE,
        max_headers=MAX_HEADERS,
    )
    await runner.setup()
    try:
        site = make_site(runner) if make_site is not None else web.TCPSite(runner, host, port)
        await site.start()
        url = bound_url(runner, host)
        announce(name, url)
        if on_started is not None:
            await on_started(url)
        await stop.wait()
        log.info("%s stopping", name)
    finally:
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def announce(name: str, url: str) -> None:
    """Say where a service listens (tests and users read this line)."""
    if not json_enabled():  # in JSON mode every output line is a JSON log record
        print(f"{name} listening on {url}", flush=True)
    log.info("%s listening on %s", name, url, extra={"url": url})


def say(message: str) -> None:
    """A start-up notice for people: printed in text mode, a log record in JSON mode."""
    if json_enabled():
        log.info("%s", message)
    else:
        print(message, flush=True)


async def wait_for_stop_signal() -> None:
    """Return once SIGINT or SIGTERM arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(main: Awaitable[None]) -> int:
    install_event_loop_policy()
    try:
        asyncio.run(main)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 130
    return 0


def fail(message: str, code: int = 2) -> int:
    print(f"vodstack: {message}", file=sys.stderr)
    return code
