"""What the page handlers share, loaded once when the app starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template

from aiohttp import web

from webui.assets import AssetBundle


@dataclass(frozen=True)
class WebUI:
    bundle: AssetBundle
    templates: Mapping[str, Template]
    csp: str
    """The Content-Security-Policy of every page."""


WEBUI: web.AppKey[WebUI] = web.AppKey("webui", WebUI)
