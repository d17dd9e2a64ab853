"""`vodstack origin`: serve published videos from the object store (scale out behind edges)."""

from __future__ import annotations

import argparse

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.logs import setup_logging
from vodstack.server import run, serve_until_signal
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
    return run(serve(settings))


async def serve(settings: Settings) -> None:
    from origin.app import create_app

    await serve_until_signal(create_app(settings), settings.host, settings.port, name="origin")
