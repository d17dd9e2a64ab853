"""`vodstack ingest`: the upload API alone (for a distributed setup)."""

from __future__ import annotations

import argparse
import asyncio

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.logs import setup_logging
from vodstack.server import run, serve_until_signal
from vodstack.settings import Settings

INGEST_SETTINGS = (
    "data_dir", "host", "port", "public_url", "store", "queue", "log_level", "log_format",
    "max_upload_size", "max_attempts", "store_timeout",
    "hlsjs_path", "access_log",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="run the upload API alone (transcoder workers and origins run apart)",
        description="Run the upload API: it receives videos into the object store, keeps "
        "the catalogue and enqueues transcode jobs for the workers.",
    )
    add_settings_arguments(parser, only=INGEST_SETTINGS)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level, settings.log_format)
    return run(serve(settings))


async def serve(settings: Settings) -> None:
    from ingest.app import create_app

    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    await serve_until_signal(create_app(settings), settings.host, settings.port, name="ingest")
