"""`vodstack serve`: the whole stack in one process on embedded defaults, behind its edge."""

from __future__ import annotations

import argparse
import asyncio

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.exposure import exposure_notice, exposure_problem
from vodstack.logs import setup_logging
from vodstack.server import announce, fail, run, say, wait_for_stop_signal
from vodstack.settings import Settings

SERVE_DEFAULTS = {"cache_size": "512MiB"}
"""Defaults that differ from the other commands': one machine shares its memory with ffmpeg."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run everything on one machine: edge cache, upload API, transcoder worker, origin",
        description="Run the upload API, a transcoder worker and the origin in one process "
        "behind an edge cache, with a local-directory store and an SQLite queue under "
        "--data-dir (by default). The URL printed is the edge's: media are cached there, API "
        "answers pass through. Edge settings (--cache-size, ...) apply to it.",
    )
    add_settings_arguments(parser, defaults=SERVE_DEFAULTS)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, defaults=SERVE_DEFAULTS)
    if settings.upstream:
        return fail(
            "serve runs its own upstream behind its edge; to cache other servers, run "
            "`vodstack edge --upstream URL`"
        )
    problem = exposure_problem(settings)
    if problem is not None:
        return fail(problem)
    setup_logging(settings.log_level, settings.log_format)
    say(exposure_notice(settings))
    return run(serve(settings))


async def serve(settings: Settings) -> None:
    from vodstack.embedded import EmbeddedStack

    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    stack = EmbeddedStack(settings)
    try:
        url = await stack.start()
        announce("vodstack", url)
        await wait_for_stop_signal()
    finally:
        await stack.stop()
