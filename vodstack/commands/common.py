"""Helpers shared by subcommands: settings flags generated from the Settings dataclass."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from vodstack.settings import (
    Settings,
    env_name,
    flag_name,
    load_settings,
    setting_fields,
)


def add_settings_arguments(
    parser: argparse.ArgumentParser, only: Iterable[str] | None = None
) -> None:
    """One flag per setting (`--foo-bar`, also `VODSTACK_FOO_BAR`)."""
    wanted = set(only) if only is not None else None
    group = parser.add_argument_group(
        "settings", "each flag can also be given as the environment variable shown"
    )
    for f in setting_fields():
        if wanted is not None and f.name not in wanted:
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        help_text = f"{f.metadata['help']} [{env_name(f.name)}; default: {default}]"
        kwargs: dict[str, object] = {"dest": f.name, "default": None, "help": help_text}
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        if f.metadata.get("repeatable"):
            kwargs["action"] = "append"
        group.add_argument(flag_name(f.name), **kwargs)  # type: ignore[arg-type]


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, str] = {}
    for f in setting_fields():
        value = getattr(args, f.name, None)
        if value is None:
            continue
        overrides[f.name] = ",".join(value) if isinstance(value, list) else str(value)
    return load_settings(overrides=overrides)
