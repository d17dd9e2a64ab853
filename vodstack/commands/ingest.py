"""`vodstack ingest`: the upload API alone (for a distributed setup)."""

from __future__ import annotations

import argparse
import asyncio

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.exposure import exposure_notice
from vodstack.logs import setup_logging
from vodstack.server import run, say, serve_until_signal
from vodstack.settings import Settings

INGEST_SETTINGS = (
    "data_dir", "host", "port", "public_url", "store", "queue", "log_level", "log_format",
    "max_upload_size", "max_attempts", "store_timeout",
    "hlsjs_path", "edges", "purge_token",
    "s3_access_key_id", "s3_secret_access_key", "s3_region", "s3_max_connections",
    "redis_timeout", "media_url",
    "upload_expiry", "upload_sweep_interval", "require_api_key", "api_reads", "insecure_open",
    "playback_secret", "playback_token_ttl", "webhook_urls", "webhook_secret",
    "webhook_timeout", "webhook_retry_for", "webhook_retry_base_delay",
    "webhook_retry_max_delay", "access_log",
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
    # Unlike `serve`, the upload API alone is a building block of distributed set-ups
    # (containers listen on 0.0.0.0 behind their own network): it warns, it does not refuse.
    say(exposure_notice(settings))
    return run(serve(settings))


async def serve(settings: Settings) -> None:
    from ingest.app import create_app

    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    await serve_until_signal(create_app(settings), settings.host, settings.port, name="ingest")
