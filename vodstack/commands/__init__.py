"""Subcommands of `vodstack`; each module has `register(subparsers)`."""

from vodstack.commands import serve

COMMAND_MODULES = [serve]
