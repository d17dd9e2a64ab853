"""The `vodstack` command: parses arguments and hands over to one of `vodstack.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vodstack import __version__
from vodstack.commands import COMMAND_MODULES
from vodstack.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vodstack",
        description="Upload videos, transcode them to adaptive HLS, serve and cache them.",
    )
    parser.add_argument("--version", action="version", version=f"vodstack {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"vodstack: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
