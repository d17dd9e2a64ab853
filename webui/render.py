"""Page templates: `string.Template` files where every substituted value is HTML-escaped.

A value is inserted raw only when it is wrapped in `Markup` by code that built it from
escaped parts, so a title can never become markup by accident.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATE_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Markup:
    """HTML that is already safe to insert as it is."""

    html: str


def escape(value: object) -> str:
    """Text for element content and quoted attribute values (`&<>"'` escaped)."""
    if isinstance(value, Markup):
        return value.html
    return html.escape("" if value is None else str(value), quote=True)


def render(template: Template, values: Mapping[str, object]) -> str:
    """Fill a template; a missing value is a bug in the page code and raises KeyError."""
    return template.substitute({name: escape(value) for name, value in values.items()})


def load_templates(directory: Path = TEMPLATE_DIR) -> dict[str, Template]:
    """Every `*.html` in the directory by file stem (blocking: run it in a thread)."""
    return {
        path.stem: Template(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.html"))
    }
