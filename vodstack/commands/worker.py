"""`vodstack worker`: a transcoder worker, with only /healthz and /readyz over HTTP."""

from __future__ import annotations

import argparse
import asyncio

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.logs import setup_logging
from vodstack.server import fail, run, serve_until_signal
from vodstack.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a transcoder worker (for distributed set-ups)",
        description="Lease transcode jobs from the queue, run ffmpeg and publish HLS to the "
        "store. Serves only /healthz and /readyz on --host/--port. Stops on SIGTERM/SIGINT, "
        "handing a job in progress back to the queue.",
    )
    add_settings_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if settings.worker_concurrency < 1:
        return fail("worker_concurrency must be at least 1 for `vodstack worker`")
    setup_logging(settings.log_level, settings.log_format)
    return run(serve_worker(settings))


async def serve_worker(settings: Settings) -> None:
    from edge_cache.fleet import EdgeFleet, attach_edge_fleet
    from transcoder.service import attach_worker
    from vodstack.backends import Backends
    from vodstack.web import base_app
    from vodstack.webhooks.service import attach_dispatcher

    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    app = base_app(settings, Backends.from_settings(settings))
    attach_edge_fleet(app, EdgeFleet.from_settings(settings))
    attach_worker(app)
    attach_dispatcher(app)
    await serve_until_signal(app, settings.host, settings.port, name="vodstack worker")
