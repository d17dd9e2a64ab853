"""Fixtures for resumable uploads, keys, signed URLs and webhooks: real backends on both
sides (local directory + SQLite, SeaweedFS S3 + Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vodstack.settings import Settings
from vodstack.store import ObjectStore
from vodstack.store.local import LocalStore
from vodstack.store.s3 import S3Store


@dataclass
class StoreKit:
    """Started stores on one directory or bucket, and a way to look behind them."""

    kind: str
    make: Callable[[], Awaitable[ObjectStore]]
    s3_client: Any = None
    bucket: str | None = None
    root: Path | None = None

    def multipart_uploads(self) -> list[str]:
        """Keys with an unfinished S3 multipart upload (S3 only)."""
        assert self.s3_client is not None
        listing = self.s3_client.list_multipart_uploads(Bucket=self.bucket)
        return [upload["Key"] for upload in listing.get("Uploads", [])]

    def resumable_files(self) -> list[str]:
        """Growing files of unfinished uploads (local only)."""
        assert self.root is not None
        directory = self.root / "resumable"
        return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


@pytest.fixture(params=["local", "s3"])
async def store_kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreKit]:
    opened: list[ObjectStore] = []
    kit: StoreKit
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        url = request.getfixturevalue("s3_store_url")
        settings = Settings(
            store=url,
            s3_access_key_id=server.access_key,
            s3_secret_access_key=server.secret_key,
            store_timeout=10.0,
        )

        async def make_s3() -> ObjectStore:
            store = S3Store.from_url(url, settings)
            await store.start()
            opened.append(store)
            return store

        kit = StoreKit(
            "s3", make_s3, s3_client=server._client(), bucket=url.split("?")[0][5:]
        )
    else:
        root = tmp_path / "store"

        async def make_local() -> ObjectStore:
            store = LocalStore(root)
            await store.start()
            opened.append(store)
            return store

        kit = StoreKit("local", make_local, root=root)
    yield kit
    for store in opened:
        await store.close()


