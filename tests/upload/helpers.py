"""Small helpers shared by the upload tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from tests.support.ingest_server import IngestServer
from vodstack.store.local import LocalStore
from vodstack.store.metered import unwrapped


def payload(size: int, seed: int = 1) -> bytes:
    """Deterministic, non-repeating-looking bytes (so a misplaced chunk would show)."""
    block = bytes((i * 7 + seed) % 251 for i in range(251))
    return (block * (size // len(block) + 1))[:size]


async def generated(size: int, chunk: int = 64 * 1024, seed: int = 1) -> AsyncIterator[bytes]:
    """`size` bytes produced chunk by chunk, never held whole."""
    block = payload(chunk, seed)
    sent = 0
    while sent < size:
        part = block[: min(chunk, size - sent)]
        sent += len(part)
        yield part


def temp_files(server: IngestServer) -> list[Path]:
    store = unwrapped(server.store)
    assert isinstance(store, LocalStore)
    return list(store.tmp_root.iterdir()) if store.tmp_root.exists() else []


async def stored_keys(server: IngestServer) -> list[str]:
    """Every object under `uploads/` and `videos/`."""
    return [
        info.key for prefix in ("uploads/", "videos/") async for info in server.store.list(prefix)
    ]


async def eventually(check: Callable[[], object], within: float = 10.0) -> None:
    """Wait until `check()` (sync or async) is truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


async def assert_nothing_left(server: IngestServer) -> None:
    """No record, no job, no object, no temp file: an upload left no trace."""
    videos, _ = await server.catalog.list(limit=100)
    assert videos == []
    assert await server.queue.depth() == 0
    assert await server.queue.lease("probe", 30, 0) is None
    assert await stored_keys(server) == []
    assert temp_files(server) == []


def file_of(path: Path, size: int) -> Path:
    path.write_bytes(payload(size))
    assert os.path.getsize(path) == size
    return path
