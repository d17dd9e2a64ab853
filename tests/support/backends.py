"""Backend configurations for tests: embedded (directory + SQLite) or distributed (S3 + Redis).

A `BackendConfig` is a set of `VODSTACK_*` variables — pass `env` to a subprocess — and
can build the equivalent `Settings` for in-process tests. Each test gets its own
namespace: a fresh directory, or a fresh bucket and Redis key prefix.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.redis_server import RedisServer
from tests.support.seaweed import SeaweedServer
from vodstack.catalog import Catalog
from vodstack.settings import Settings, load_settings

BACKEND_NAMES = ("local", "distributed")

CatalogFactory = Callable[[], Awaitable[Catalog]]
"""The `make_catalog` fixture (tests/conftest.py): started catalogues sharing one backend."""


def fresh_bucket() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


def fresh_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


@dataclass(frozen=True)
class BackendConfig:
    name: str
    """"local" or "distributed"."""
    env: dict[str, str] = field(default_factory=dict)
    """VODSTACK_* variables selecting and configuring the backends."""

    @property
    def distributed(self) -> bool:
        return self.name == "distributed"

    def settings(self, **overrides: Any) -> Settings:
        """Settings from `env`, with typed overrides (e.g. `visibility_timeout=3.0`)."""
        return dataclasses.replace(load_settings(self.env), **overrides).validate()


def local_backend(directory: Path) -> BackendConfig:
    return BackendConfig(
        name="local",
        env={
            "VODSTACK_DATA_DIR": str(directory),
            "VODSTACK_STORE": f"file://{directory.resolve() / 'store'}",
            "VODSTACK_QUEUE": f"sqlite://{directory.resolve() / 'vodstack.db'}",
        },
    )


def distributed_backend(
    directory: Path, s3: SeaweedServer, redis: RedisServer
) -> BackendConfig:
    return BackendConfig(
        name="distributed",
        env={
            "VODSTACK_DATA_DIR": str(directory),
            "VODSTACK_STORE": s3.store_url(fresh_bucket()),
            "VODSTACK_QUEUE": redis.url(prefix=fresh_prefix()),
            **s3.env(),
        },
    )
