"""Fixtures for the upload API and its CLI: a real server on loopback with real backends
(local directory store, SQLite queue and catalogue) under the test's tmp directory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.ingest_server import IngestServer, running_ingest
from vodstack.settings import Settings

StartIngest = Callable[..., Awaitable[IngestServer]]


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


@pytest.fixture
async def server(start_ingest: StartIngest) -> IngestServer:
    return await start_ingest()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session
