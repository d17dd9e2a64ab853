"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import serve, worker

COMMAND_MODULES = [serve, worker]
