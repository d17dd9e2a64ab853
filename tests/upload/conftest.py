"""Fixtures for the upload API and its CLI: a real server on loopback with real backends
(local directory store, SQLite queue and catalogue) under the test's tmp directory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.ingest_server import IngestServer, StartIngest


@pytest.fixture
async def server(start_ingest: StartIngest) -> IngestServer:
    return await start_ingest()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session
