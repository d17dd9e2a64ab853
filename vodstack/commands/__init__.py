"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import client, edge, ingest, origin, serve

COMMAND_MODULES = [serve, ingest, origin, edge, client]
