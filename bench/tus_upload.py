"""Resumable (tus) upload throughput and server memory, local store or S3 (SeaweedFS).

    python bench/tus_upload.py [--size-mib 512] [--chunk-mib 1 8] [--s3]

Starts `vodstack ingest` in a temp directory (with --s3: on a SeaweedFS bucket and a Redis
catalogue, both started here), uploads SIZE MiB with tus PATCHes of each chunk size
(SHA-1 Upload-Checksum on every chunk, as `vodstack upload` sends them) and prints the
rate and the server's peak RSS growth, beside one plain `POST /v1/videos` of the same size.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.upload import body, reset_peak_rss, rss_kib
from tests.support.processes import VodstackProcess
from tests.support.redis_server import RedisServer
from tests.support.seaweed import SeaweedServer

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


async def tus_upload(http: aiohttp.ClientSession, url: str, size: int, chunk: int) -> None:
    async with http.post(
        url + "/v1/uploads", headers={**TUS, "Upload-Length": str(size)}
    ) as response:
        assert response.status == 201, await response.text()
        location = response.headers["Location"]
    block = bytes(range(256)) * (chunk // 256)
    offset = 0
    while offset < size:
        data = block[: min(chunk, size - offset)]
        digest = base64.b64encode(hashlib.sha1(data).digest()).decode()
        headers = {
            **TUS, "Upload-Offset": str(offset), "Upload-Checksum": f"sha1 {digest}",
            "Content-Type": "application/offset+octet-stream",
        }
        async with http.patch(location, data=data, headers=headers) as response:
            assert response.status == 204, await response.text()
            offset = int(response.headers["Upload-Offset"])


async def bench(url: str, pid: int, size: int, chunks: list[int]) -> None:
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await tus_upload(http, url, MiB, MiB)  # warm-up
        for chunk in chunks:
            before = rss_kib(pid, "VmRSS")
            reset_peak_rss(pid)
            started = time.perf_counter()
            await tus_upload(http, url, size, chunk)
            elapsed = time.perf_counter() - started
            peak = rss_kib(pid, "VmHWM")
            print(
                f"tus, {chunk // MiB} MiB PATCHes: {size / MiB:.0f} MiB in {elapsed:.2f} s = "
                f"{size / elapsed / 1e6:.0f} MB/s; server peak RSS growth "
                f"{(peak - before) / 1024:.1f} MiB"
            )
        before = rss_kib(pid, "VmRSS")
        reset_peak_rss(pid)
        started = time.perf_counter()
        async with http.post(
            url + "/v1/videos", data=body(size, MiB), headers={"Content-Length": str(size)}
        ) as response:
            assert response.status == 201, await response.text()
        elapsed = time.perf_counter() - started
        peak = rss_kib(pid, "VmHWM")
        print(
            f"plain POST: {size / MiB:.0f} MiB in {elapsed:.2f} s = {size / elapsed / 1e6:.0f} "
            f"MB/s; server peak RSS growth {(peak - before) / 1024:.1f} MiB"
        )


@contextlib.contextmanager
def backends(tmp: Path, s3: bool) -> Iterator[dict[str, str]]:
    if not s3:
        yield {}
        return
    with SeaweedServer(tmp / "seaweed") as seaweed, RedisServer(tmp / "redis") as redis:
        yield {
            "VODSTACK_STORE": seaweed.store_url("bench"),
            "VODSTACK_QUEUE": redis.url(prefix="bench:"),
            **seaweed.env(),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--chunk-mib", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--s3", action="store_true", help="SeaweedFS S3 + Redis backends")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "seaweed").mkdir()
        (tmp / "redis").mkdir()
        with backends(tmp, args.s3) as env:
            server = VodstackProcess(
                ["ingest", "--data-dir", str(tmp / "data"), "--port", "0"],
                log_path=tmp / "ingest.log", env=env,
            )
            try:
                asyncio.run(bench(
                    server.url, server.proc.pid, args.size_mib * MiB,
                    [c * MiB for c in args.chunk_mib],
                ))
            finally:
                server.stop()


if __name__ == "__main__":
    main()
