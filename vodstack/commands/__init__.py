"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import origin, serve

COMMAND_MODULES = [serve, origin]
