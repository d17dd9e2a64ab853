"""`vodstack keys create | list | revoke`: API keys, kept (as hashes) in the catalogue."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from vodstack import api_keys
from vodstack.catalog import Catalog, open_catalog
from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.errors import QueueUnavailable
from vodstack.server import fail
from vodstack.settings import Settings
from vodstack.webhooks.events import iso8601

KEYS_SETTINGS = ("data_dir", "queue", "redis_timeout", "log_level")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys authorise uploads, deletes and other changes when "
        "VODSTACK_REQUIRE_API_KEY=true. Only a key's SHA-256 is stored, in the catalogue "
        "(--queue): a key is shown once, when it is created.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a new key and print it (once)")
    create.add_argument("--name", default="", help="what the key is for (shown by list)")
    add_settings_arguments(create, only=KEYS_SETTINGS)
    create.set_defaults(func=lambda args: _run(args, create_key))
    listing = actions.add_parser("list", help="list keys (ids and names, never the keys)")
    add_settings_arguments(listing, only=KEYS_SETTINGS)
    listing.set_defaults(func=lambda args: _run(args, list_keys))
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id", metavar="ID", help="the key's id (as `list` shows it)")
    add_settings_arguments(revoke, only=KEYS_SETTINGS)
    revoke.set_defaults(func=lambda args: _run(args, revoke_key))


def _run(
    args: argparse.Namespace, action: Callable[[Catalog, argparse.Namespace], Awaitable[int]]
) -> int:
    settings = settings_from_args(args)

    async def main() -> int:
        await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
        catalog = open_catalog(settings)
        await catalog.start()
        try:
            return await action(catalog, args)
        finally:
            await catalog.close()

    try:
        return asyncio.run(main())
    except QueueUnavailable as exc:
        return fail(f"cannot reach the catalogue ({_where(settings)}): {exc}", 1)


def _where(settings: Settings) -> str:
    return settings.queue_url.split("@")[-1]


async def create_key(catalog: Catalog, args: argparse.Namespace) -> int:
    made = api_keys.new_key(args.name)
    await catalog.api_keys.add_key(made.record)
    print(made.key)
    print(
        f"created key {made.record.id} ({made.record.name}); it is shown only now: "
        "keep it somewhere safe",
        file=sys.stderr,
    )
    return 0


async def list_keys(catalog: Catalog, args: argparse.Namespace) -> int:
    records = await catalog.api_keys.list_keys()
    if not records:
        print("no keys (create one with `vodstack keys create --name ...`)")
        return 0
    rows = [("ID", "NAME", "CREATED (UTC)", "REVOKED (UTC)")]
    for record in records:
        rows.append((
            record.id,
            record.name,
            _when(record.created_at),
            _when(record.revoked_at) if record.revoked_at is not None else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _when(timestamp: float) -> str:
    return (iso8601(timestamp) or "")[:19].replace("T", " ")


async def revoke_key(catalog: Catalog, args: argparse.Namespace) -> int:
    if not await catalog.api_keys.revoke_key(args.key_id, time.time()):
        return fail(f"no key with id {args.key_id!r} (see `vodstack keys list`)", 1)
    print(f"revoked {args.key_id}")
    return 0
