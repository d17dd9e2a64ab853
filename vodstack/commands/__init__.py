"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import edge, serve

COMMAND_MODULES = [serve, edge]
