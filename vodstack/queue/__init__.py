"""Job queues: the contract and a factory choosing the backend from a URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from vodstack.queue.base import Job, JobQueue
from vodstack.settings import Settings, SettingsError

__all__ = ["Job", "JobQueue", "open_queue"]


def open_queue(settings: Settings) -> JobQueue:
    """The queue named by `settings.queue_url` (not started yet: call `start()`)."""
    url = settings.queue_url
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from vodstack.queue.sqlite import SqliteQueue

        return SqliteQueue(sqlite_path(url))
    if scheme in {"redis", "rediss"}:
        from vodstack.queue.redis import RedisQueue

        return RedisQueue.from_url(url, settings)
    raise SettingsError(f"unknown queue URL scheme {scheme!r} in {url!r}")


def sqlite_path(url: str) -> str:
    """`sqlite:///abs/path.db` → `/abs/path.db`; `sqlite://rel.db` → `rel.db`."""
    rest = url[len("sqlite://"):]
    if not rest:
        raise SettingsError(f"queue URL {url!r} names no database file")
    return rest
