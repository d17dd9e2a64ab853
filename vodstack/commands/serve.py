"""`vodstack serve`: the whole stack in one process on embedded defaults."""

from __future__ import annotations

import argparse
import asyncio

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.exposure import exposure_notice, exposure_problem
from vodstack.logs import setup_logging
from vodstack.server import fail, run, serve_until_signal
from vodstack.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run everything on one machine: upload API, transcoder worker and origin",
        description="Run the upload API, a transcoder worker and the origin in one process, "
        "with a local-directory store and an SQLite queue under --data-dir (by default).",
    )
    add_settings_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    problem = exposure_problem(settings)
    if problem is not None:
        return fail(problem)
    setup_logging(settings.log_level, settings.log_format)
    print(exposure_notice(settings), flush=True)
    return run(serve(settings))


async def serve(settings: Settings) -> None:
    from vodstack.embedded import build_embedded_app

    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    app = build_embedded_app(settings)
    await serve_until_signal(app, settings.host, settings.port, name="vodstack")
