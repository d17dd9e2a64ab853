"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import client, ingest, serve

COMMAND_MODULES = [serve, ingest, client]
