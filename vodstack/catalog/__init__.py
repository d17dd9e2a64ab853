"""The video catalogue: the contract and a factory (it lives beside the job queue)."""

from __future__ import annotations

from urllib.parse import urlsplit

from vodstack.catalog.base import Catalog, Rendition, Video, VideoStatus
from vodstack.settings import Settings, SettingsError

__all__ = ["Catalog", "Rendition", "Video", "VideoStatus", "open_catalog"]


def open_catalog(settings: Settings) -> Catalog:
    """The catalogue shares the queue's backend: SQLite embedded, Redis distributed."""
    url = settings.queue_url
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from vodstack.catalog.sqlite import SqliteCatalog
        from vodstack.queue import sqlite_path

        return SqliteCatalog(sqlite_path(url))
    if scheme in {"redis", "rediss"}:
        from vodstack.catalog.redis import RedisCatalog

        return RedisCatalog.from_url(url, settings)
    raise SettingsError(f"unknown queue URL scheme {scheme!r} in {url!r}")
