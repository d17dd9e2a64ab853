"""A large upload streams through `vodstack ingest` in bounded memory (real process)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import VodstackProcess
from tests.upload.helpers import payload
from vodstack import keys
from vodstack.store.local import LocalStore

MiB = 1024 * 1024
BODY_SIZE = 200 * MiB
MAX_GROWTH = 40 * MiB


def _status_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match, f"{field} not in /proc/{pid}/status"
    return int(match.group(1)) * 1024


def _reset_peak_rss(pid: int) -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _body(size: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    block = payload(MiB, seed=9)
    sent = 0
    while sent < size:
        part = block[: min(len(block), size - sent)]
        digest.update(part)
        sent += len(part)
        yield part


@pytest.mark.slow
async def test_200_mb_upload_in_bounded_memory(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = start_vodstack("ingest", "--data-dir", str(data_dir), "--port", "0")
    pid = server.proc.pid
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url + "/v1/videos", data=b"warm-up") as response:
            assert response.status == 201
        baseline = _status_kib(pid, "VmRSS")
        if not _reset_peak_rss(pid):
            baseline = _status_kib(pid, "VmHWM")

        digest = hashlib.md5(usedforsecurity=False)
        async with http.post(
            server.url + "/v1/videos",
            data=_body(BODY_SIZE, digest),
            headers={"Content-Length": str(BODY_SIZE)},
            timeout=aiohttp.ClientTimeout(total=300),
        ) as response:
            assert response.status == 201, await response.text()
            video_id = (await response.json())["id"]
    peak = _status_kib(pid, "VmHWM")
    growth = peak - baseline
    print(f"peak RSS growth during a {BODY_SIZE // MiB} MiB upload: {growth / MiB:.1f} MiB")
    assert growth < MAX_GROWTH, f"server RSS grew by {growth / MiB:.1f} MiB"

    info = await LocalStore(data_dir / "store").head(keys.source_key(video_id))
    assert info.size == BODY_SIZE
    assert info.etag == f'"{digest.hexdigest()}"'
