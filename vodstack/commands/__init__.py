"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import client, ingest, origin, serve

COMMAND_MODULES = [serve, ingest, origin, client]
