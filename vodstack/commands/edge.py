"""`vodstack edge`: the caching reverse proxy alone, in front of one or more upstreams."""

from __future__ import annotations

import argparse
import asyncio

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.logs import setup_logging
from vodstack.server import fail, run, serve_until_signal
from vodstack.settings import Settings

EDGE_SETTINGS = (
    "host", "port", "log_level", "log_format",
    "upstream", "cache_size", "max_object_fraction", "purge_token", "lb_policy",
    "health_check_interval", "health_check_path", "collapse_timeout",
    "upstream_connect_timeout", "upstream_timeout", "breaker_threshold", "breaker_cooldown",
    "edge_stale_if_error", "warm_max_bytes", "warm_concurrency", "playback_secret",
    "require_api_key", "queue", "data_dir", "redis_timeout", "access_log", "processes",
    "edge_hit_path",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "edge",
        help="run a caching reverse proxy in front of one or more upstream servers",
        description="A byte-bounded RFC 9111 shared cache in front of any HTTP upstream: "
        "collapsed misses, stale-while-revalidate / stale-if-error, load balancing and "
        "health checks over several --upstream servers, purge and warm endpoints.",
    )
    add_settings_arguments(parser, only=EDGE_SETTINGS)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if not settings.upstream:
        return fail("edge needs at least one --upstream URL (or VODSTACK_UPSTREAM)")
    setup_logging(settings.log_level, settings.log_format)
    from edge_cache.cluster.supervisor import Supervisor, default_processes, exec_supervisor

    processes = settings.processes or default_processes()
    if processes == 1:
        from edge_cache.memory import return_large_blocks_to_the_os

        return_large_blocks_to_the_os()
        return run(serve(settings))
    exec_supervisor(settings, processes)  # returns only when exec is not possible
    try:
        return asyncio.run(Supervisor(settings, processes).run())
    except KeyboardInterrupt:
        return 130


async def serve(settings: Settings) -> None:
    """One process: the app on the hit path (or aiohttp alone)."""
    from edge_cache.app import create_app
    from edge_cache.serving import edge_site

    app = create_app(settings)
    await serve_until_signal(
        app, settings.host, settings.port, name="vodstack edge",
        make_site=lambda runner: edge_site(
            runner, app, host=settings.host, port=settings.port,
            hit_path=settings.edge_hit_path,
        ),
    )
