"""One process of a multi-process edge: `python -m edge_cache.cluster.worker CONTROL INDEX`.

It connects to the supervisor's control socket, receives its settings, takes its share of
cache_size (an even part of what the other processes' runtimes leave:
edge_cache.cluster.budget), binds its own SO_REUSEPORT socket on the edge's address, serves
the usual edge app there (on the hit path), and links its cache to the other workers'. It
stops on SIGTERM/SIGINT (draining like a one-process edge) or when the supervisor goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from edge_cache import admin
from edge_cache.app import create_app
from edge_cache.cluster import frames
from edge_cache.cluster.budget import resident_bytes, worker_share
from edge_cache.cluster.link import SiblingLink
from edge_cache.cluster.supervisor import WorkerSpec, listening_socket
from edge_cache.memory import return_large_blocks_to_the_os
from edge_cache.serving import edge_site
from vodstack.logs import setup_logging
from vodstack.metrics import Metrics
from vodstack.server import (
    MAX_FIELD_SIZE,
    MAX_HEADERS,
    MAX_LINE_SIZE,
    SHUTDOWN_TIMEOUT,
    install_event_loop_policy,
)
from vodstack.settings import Settings

log = logging.getLogger(__name__)

MiB = 1024 * 1024

SIBLINGS: web.AppKey[SiblingLink] = admin.SIBLINGS


async def serve(control: str, index: int) -> int:
    reader, writer = await asyncio.open_unix_connection(control)
    writer.write(frames.message("hello", index, os.getpid()))
    kind, pieces = await frames.read_frame(reader)
    welcome = frames.read_message(pieces[0]) if kind == frames.MESSAGE else ()
    if len(welcome) != 3 or welcome[0] != "welcome" or not isinstance(welcome[1], WorkerSpec):
        raise frames.FrameError("the supervisor sent no welcome")
    spec: WorkerSpec = welcome[1]
    setup_logging(spec.settings.log_level, spec.settings.log_format)
    settings = _with_cache_share(spec, index)

    metrics = Metrics()
    app = create_app(settings, metrics=metrics)
    proxy = app[admin.PROXY]
    link = SiblingLink(
        reader, writer, index=index, count=spec.count, proxy=proxy, seen=welcome[2]
    )
    proxy.store.listener = link
    app[SIBLINGS] = link
    link.answerers["stats"] = lambda _payload: _local_stats(app)
    link.answerers["metrics"] = lambda _payload: metrics.collected()
    metrics.peers = lambda: link.ask("metrics")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None,
        max_line_size=MAX_LINE_SIZE, max_field_size=MAX_FIELD_SIZE, max_headers=MAX_HEADERS,
    )  # fmt: skip
    await runner.setup()
    listening = asyncio.create_task(link.run())
    try:
        for address in spec.addresses:
            site = edge_site(
                runner, app, host=None, port=0, hit_path=settings.edge_hit_path,
                sock=listening_socket(address),
            )  # fmt: skip
            await site.start()
        writer.write(frames.message("ready"))
        log.debug("edge worker %d (pid %d) ready", index, os.getpid())
        waiting = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiting, listening}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if listening.done():
            log.warning("edge worker %d: the supervisor went away; stopping", index)
    finally:
        await runner.cleanup()
        link.close()
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def _with_cache_share(spec: WorkerSpec, index: int) -> Settings:
    """The settings with this worker's part of cache_size, its runtime measured now that
    everything it runs is imported."""
    cache_size = spec.settings.cache_size
    share = worker_share(cache_size, spec.count, spec.supervisor_rss, resident_bytes())
    args = (index, spec.count, share.bytes / MiB, cache_size / MiB, share.runtimes / MiB)
    if share.squeezed:
        log.warning(
            "edge worker %d of %d caches %.0f MiB: cache_size %.0f MiB leaves too little after "
            "%.0f MiB for the other processes' runtimes, so the edge can use more than "
            "cache_size + 100 MiB; --processes 1 or a larger --cache-size keeps it within", *args,
        )  # fmt: skip
    else:
        log.info(
            "edge worker %d of %d caches %.0f MiB (cache_size %.0f MiB less %.0f MiB for the "
            "other processes' runtimes, shared evenly)", *args,
        )  # fmt: skip
    return dataclasses.replace(spec.settings, cache_size=share.bytes)


async def _local_stats(app: web.Application) -> dict[str, Any]:
    return admin.local_stats(app)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m edge_cache.cluster.worker CONTROL_SOCKET INDEX", file=sys.stderr)
        return 2
    install_event_loop_policy()
    return_large_blocks_to_the_os()
    try:
        return asyncio.run(serve(args[0], int(args[1])))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
