"""Helpers shared by subcommands: settings flags generated from the Settings dataclass."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping

from vodstack.settings import (
    Settings,
    env_name,
    flag_name,
    load_settings,
    setting_fields,
)


def add_settings_arguments(
    parser: argparse.ArgumentParser,
    only: Iterable[str] | None = None,
    defaults: Mapping[str, str] | None = None,
) -> None:
    """One flag per setting (`--foo-bar`, also `VODSTACK_FOO_BAR`); `defaults` are this
    command's own defaults (text form) where they differ from the settings'."""
    wanted = set(only) if only is not None else None
    group = parser.add_argument_group(
        "settings", "each flag can also be given as the environment variable shown"
    )
    for f in setting_fields():
        if wanted is not None and f.name not in wanted:
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        if defaults and f.name in defaults:
            default = defaults[f.name]
        help_text = f"{f.metadata['help']} [{env_name(f.name)}; default: {default}]"
        kwargs: dict[str, object] = {"dest": f.name, "default": None, "help": help_text}
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        if f.metadata.get("repeatable"):
            kwargs["action"] = "append"
        group.add_argument(flag_name(f.name), **kwargs)  # type: ignore[arg-type]


def settings_from_args(
    args: argparse.Namespace, defaults: Mapping[str, str] | None = None
) -> Settings:
    """Settings from flags over the environment, over the command's own `defaults`."""
    overrides: dict[str, str] = {
        name: text for name, text in (defaults or {}).items() if env_name(name) not in os.environ
    }
    for f in setting_fields():
        value = getattr(args, f.name, None)
        if value is None:
            continue
        overrides[f.name] = ",".join(value) if isinstance(value, list) else str(value)
    return load_settings(overrides=overrides)
