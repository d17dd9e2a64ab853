"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import check, client, edge, ingest, keys, loadtest, origin, serve, worker

COMMAND_MODULES = [serve, ingest, worker, origin, edge, client, keys, loadtest, check]
