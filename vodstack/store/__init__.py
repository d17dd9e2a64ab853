"""Object stores: the contract and a factory choosing the backend from a URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from vodstack.settings import Settings, SettingsError
from vodstack.store.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStream,
    ObjectTooLarge,
    ResumableUpload,
)

__all__ = [
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStream",
    "ObjectTooLarge",
    "ResumableUpload",
    "open_store",
]


def open_store(settings: Settings) -> ObjectStore:
    """The store named by `settings.store_url` (not started yet: call `start()`)."""
    url = settings.store_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from vodstack.store.local import LocalStore

        path = urlsplit(url).path
        if not path:
            raise SettingsError(f"store URL {url!r} has no directory (file:///abs/path)")
        return LocalStore(Path(path))
    if scheme == "s3":
        from vodstack.store.s3 import S3Store

        return S3Store.from_url(url, settings)
    raise SettingsError(f"unknown store URL scheme {scheme!r} in {url!r}")
