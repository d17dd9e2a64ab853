"""Opening Redis the same way for the queue and the catalogue, and translating its errors.

    redis://[:password@]host:6379/0[?prefix=myapp:]

Timeouts are set on purpose (a dead Redis must not hang a request): connect and answer
within `redis_timeout`, one quick retry of a dropped connection, nothing more.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from vodstack.errors import QueueUnavailable
from vodstack.redis_keys import DEFAULT_PREFIX, PREFIX_RE, RedisKeys
from vodstack.settings import Settings, SettingsError

MAX_CONNECTIONS = 64
HEALTH_CHECK_INTERVAL = 30


@dataclass(frozen=True)
class RedisTarget:
    url: str
    """The URL for redis-py (our own parameters removed)."""
    keys: RedisKeys
    where: str
    """host:port/db, for messages (never the password)."""


def parse_redis_url(url: str) -> RedisTarget:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise SettingsError(f"not a redis:// URL with a host: {url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = DEFAULT_PREFIX
    kept: list[tuple[str, str]] = []
    for name, value in query:
        if name == "prefix":
            if not PREFIX_RE.fullmatch(value):
                raise SettingsError(
                    f"Redis URL: prefix {value!r} must be 1-64 letters, digits or _.:-"
                )
            prefix = value
        else:
            kept.append((name, value))
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise SettingsError(f"Redis URL {url!r}: the path must be a database number, like /0")
    where = f"{parts.hostname}:{parts.port or 6379}/{db}"
    clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
    return RedisTarget(url=clean, keys=RedisKeys(prefix), where=where)


def connect(target: RedisTarget, settings: Settings) -> Redis:
    """A client with a pool; nothing is sent until the first command."""
    timeout = settings.redis_timeout
    client: Redis = Redis.from_url(
        target.url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        max_connections=MAX_CONNECTIONS,
        # One fast retry, only when the connection itself broke (Redis restarted, idle
        # connection dropped): a timed-out command may have run, so it is not re-sent.
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.05, cap=0.5), 1,
            supported_errors=(RedisConnectionError,),
        ),
    )
    return client


@contextlib.contextmanager
def unavailable_on_error(what: str, where: str) -> Iterator[None]:
    """Redis failures → QueueUnavailable, with what was being done and where."""
    try:
        yield
    except RedisError as exc:
        raise QueueUnavailable(f"Redis {what} at {where}: {exc}") from exc
