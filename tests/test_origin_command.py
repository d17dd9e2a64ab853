"""`vodstack origin` as a real process: starts, serves the store, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import VodstackProcess
from vodstack.store.local import LocalStore

VIDEO_ID = "AbCdEfGhIjKlMnOp"


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.slow
def test_origin_command_serves_the_store(
    tmp_path: Path, start_vodstack: Callable[..., VodstackProcess]
) -> None:
    store = LocalStore(tmp_path / "store", fsync=False)

    async def publish() -> None:
        await store.start()
        await store.put_bytes(
            f"videos/{VIDEO_ID}/master.m3u8", b"#EXTM3U\n", content_type="x"
        )

    asyncio.run(publish())
    origin = start_vodstack(
        "origin", "--port", "0", "--data-dir", str(tmp_path), "--store", f"file://{tmp_path}/store"
    )
    status, headers, body = fetch(f"{origin.url}/v/{VIDEO_ID}/master.m3u8")
    assert (status, body) == (200, b"#EXTM3U\n")
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"

    status, headers, body = fetch(f"{origin.url}/v/{VIDEO_ID}/nothing.m3u8")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_published"

    status, _headers, body = fetch(f"{origin.url}/readyz")
    assert status == 200

    assert origin.stop() == 0


def test_origin_command_rejects_bad_settings(
    tmp_path: Path, start_vodstack: Callable[..., VodstackProcess]
) -> None:
    with pytest.raises(RuntimeError, match="store must be a file:// or s3:// URL"):
        start_vodstack("origin", "--port", "0", "--store", "ftp://nowhere")
