"""Fixtures shared by the whole suite. Servers bind 127.0.0.1 and are stopped by their test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.backends import (
    BACKEND_NAMES,
    BackendConfig,
    CatalogFactory,
    distributed_backend,
    fresh_bucket,
    fresh_prefix,
    local_backend,
)
from tests.support.clips import ClipSpec, generate_clip
from tests.support.ingest_server import IngestServer, StartIngest, running_ingest
from tests.support.processes import VodstackProcess
from tests.support.redis_server import RedisServer
from tests.support.seaweed import SeaweedServer
from vodstack.catalog import Catalog
from vodstack.catalog.redis import RedisCatalog
from vodstack.catalog.sqlite import SqliteCatalog
from vodstack.settings import Settings


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def make_clip(clip_dir: Path) -> Callable[..., Path]:
    """`make_clip(duration=10, width=1280, height=720, ...)` → path of a generated clip."""

    def make(**kwargs: object) -> Path:
        return generate_clip(ClipSpec(**kwargs), clip_dir)  # type: ignore[arg-type]

    return make


@pytest.fixture
def start_vodstack(tmp_path: Path) -> Iterator[Callable[..., VodstackProcess]]:
    """Factory: `start_vodstack("serve", "--data-dir", d, env={...})`; all stopped at the end."""
    started: list[VodstackProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, name: str | None = None
    ) -> VodstackProcess:
        log_name = name or f"{args[0]}-{len(started)}"
        proc = VodstackProcess(args, log_path=tmp_path / f"{log_name}.log", env=env)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()


# -- distributed backends: real SeaweedFS (S3) and Redis, one of each per session ---------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with SeaweedServer(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def s3_store_url(s3_server: SeaweedServer) -> str:
    """A store URL on a bucket of this test's own (created by the store's start())."""
    return s3_server.store_url(fresh_bucket())


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL with a key prefix of this test's own."""
    return redis_server.url(prefix=fresh_prefix())


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendConfig:
    """Run the test once embedded (directory + SQLite) and once distributed (S3 + Redis).

    `backend.env` goes to subprocesses, `backend.settings(**overrides)` to in-process code.
    """
    directory = tmp_path / "backend"
    if request.param == "local":
        return local_backend(directory)
    return distributed_backend(
        directory,
        request.getfixturevalue("s3_server"),
        request.getfixturevalue("redis_server"),
    )


@pytest.fixture(params=["sqlite", "redis"])
async def make_catalog(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[CatalogFactory]:
    """Factory of started catalogues sharing one backend (like several services)."""
    opened: list[Catalog] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None

    async def make() -> Catalog:
        catalog: Catalog
        if url is not None:
            catalog = RedisCatalog.from_url(url, Settings(queue=url, redis_timeout=3.0))
        else:
            catalog = SqliteCatalog(str(tmp_path / "catalog.db"))
        await catalog.start()
        opened.append(catalog)
        return catalog

    yield make
    for catalog in opened:
        await catalog.close()


@pytest.fixture
async def catalog(make_catalog: CatalogFactory) -> Catalog:
    return await make_catalog()


@pytest.fixture
async def start_ingest(tmp_path: Path) -> AsyncIterator[StartIngest]:
    """`await start_ingest(max_upload_size=..., ...)` → a running server; stopped at the end."""
    async with contextlib.AsyncExitStack() as stack:
        count = 0

        async def start(**overrides: Any) -> IngestServer:
            nonlocal count
            count += 1
            settings = Settings(data_dir=tmp_path / f"data{count}", **overrides).validate()
            return await stack.enter_async_context(running_ingest(settings))

        yield start
