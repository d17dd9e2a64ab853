"""`vodstack origin`: serve published videos from the object store (scale out behind edges)."""

from __future__ import annotations

import argparse
import dataclasses

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.logs import setup_logging
from vodstack.multiprocess import Worker, default_processes, run_processes
from vodstack.server import announce, run, serve_until_signal, url_for
from vodstack.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "origin",
        help="serve published videos (/v/<id>/...) from the object store",
        description="Serve published HLS renditions, playlists and posters from the object "
        "store under /v/<video_id>/<path>, with ETag, Last-Modified, range and CORS support. "
        "Stateless: run as many as needed behind edge caches.",
    )
    add_settings_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level, settings.log_format)
    processes = settings.processes or default_processes()
    if processes == 1:
        return run(serve(settings))

    def child(worker: Worker) -> int:
        return run(serve(dataclasses.replace(settings, port=worker.port), worker=worker))

    return run_processes(
        processes, settings.host, settings.port, child,
        announce=lambda port: announce("origin", url_for(settings.host, port)),
    )  # fmt: skip


async def serve(settings: Settings, *, worker: Worker | None = None) -> None:
    """One origin process: the fast server in front of the aiohttp app (origin.fastserver)."""
    from origin.app import create_app
    from origin.fastserver import FastSite
    from vodstack.metrics.siblings import share_metrics

    async def started(_url: str) -> None:
        if worker is not None:
            worker.ready()

    app = create_app(settings)
    if worker is not None:
        share_metrics(app, worker)
    await serve_until_signal(
        app, settings.host, settings.port, name="origin",
        make_site=lambda runner: FastSite(
            runner, settings.host, settings.port, reuse_port=worker is not None
        ),
        quiet=worker is not None, on_started=started,
    )  # fmt: skip
