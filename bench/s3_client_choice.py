"""Which S3 client for an asyncio service: aiobotocore, or boto3 / minio in threads?

Starts a SeaweedFS S3 server on loopback (or uses --endpoint), then for each client runs
  * GET: ranged GETs of a 1.6 MB object (the size of a 4 s 3 Mbit/s segment), read fully,
    `--get-concurrency` at once;
  * PUT: small PUTs (4 KiB, like playlists), `--put-concurrency` at once;
and reports requests/s, latency percentiles, CPU per request and the event loop's lag
(how late a 5 ms timer fires while the requests run: what every other request on the
same loop would feel).

    python bench/s3_client_choice.py                 # numbers for docs/decisions.md
    python bench/s3_client_choice.py --requests 400  # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.seaweed import SeaweedServer
from vodstack.settings import Settings
from vodstack.store.s3 import S3Store

OBJECT_SIZE = 1_600_000
SMALL_SIZE = 4096
TICK = 0.005


@dataclass
class Result:
    client: str
    workload: str
    requests: int
    seconds: float
    cpu_seconds: float
    latencies: list[float]
    lags: list[float]

    def row(self) -> str:
        lat = sorted(self.latencies)
        lag = sorted(self.lags) or [0.0]
        return (
            f"| {self.client} | {self.workload} | {self.requests / self.seconds:,.0f} "
            f"| {pct(lat, 50) * 1000:.1f} | {pct(lat, 99) * 1000:.1f} "
            f"| {self.cpu_seconds / self.requests * 1000:.2f} "
            f"| {pct(lag, 50) * 1000:.1f} | {pct(lag, 99) * 1000:.1f} | {lag[-1] * 1000:.1f} |"
        )


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * p / 100))]


async def measure(
    client: str,
    workload: str,
    total: int,
    concurrency: int,
    one_request: Callable[[int], Awaitable[None]],
) -> Result:
    """Run `total` requests, `concurrency` at a time, while timing the loop's lag."""
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            lags.append(time.perf_counter() - before - TICK)

    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for n in counter:
            before = time.perf_counter()
            await one_request(n)
            latencies.append(time.perf_counter() - before)

    tick_task = asyncio.create_task(ticker())
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    running = False
    await tick_task
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return Result(client, workload, total, seconds, cpu, latencies, lags)


# -- the clients -------------------------------------------------------------------------------


async def bench_aiobotocore(
    endpoint: str, creds: tuple[str, str], bucket: str, args: argparse.Namespace
) -> list[Result]:
    """The shipped S3Store (aiobotocore underneath), as the services use it."""
    url = f"s3://{bucket}?endpoint={endpoint}"
    settings = Settings(
        store=url, s3_access_key_id=creds[0], s3_secret_access_key=creds[1],
        s3_max_connections=args.pool, store_timeout=30.0,
    )
    store = S3Store.from_url(url, settings)
    await store.start()
    try:
        async def get(n: int) -> None:
            stream = await store.open("bench/segment.m4s", 0, OBJECT_SIZE)
            async for _chunk in stream:
                pass

        async def put(n: int) -> None:
            await store.put_bytes(f"bench/small/{n}", small_body(), content_type="text/plain")

        await measure("aiobotocore", "warm-up", 50, 10, get)
        await measure("aiobotocore", "warm-up", 100, args.put_concurrency, put)
        return [
            await measure("aiobotocore", "GET 1.6 MB", args.requests, args.get_concurrency, get),
            await measure("aiobotocore", "PUT 4 KiB", args.requests, args.put_concurrency, put),
        ]
    finally:
        await store.close()


async def bench_aiobotocore_raw(
    endpoint: str, creds: tuple[str, str], bucket: str, args: argparse.Namespace
) -> list[Result]:
    """The same client and configuration without S3Store's fair request slots."""
    from aiobotocore.session import get_session

    from vodstack.store.s3 import client_config
    from vodstack.store.s3_location import parse_s3_url

    url = f"s3://{bucket}?endpoint={endpoint}"
    settings = Settings(store=url, s3_max_connections=args.pool, store_timeout=30.0)
    config = client_config(settings, parse_s3_url(url))
    async with get_session().create_client(
        "s3", endpoint_url=endpoint, aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1], config=config,
    ) as client:
        async def get(n: int) -> None:
            response = await client.get_object(
                Bucket=bucket, Key="bench/segment.m4s", Range=f"bytes=0-{OBJECT_SIZE - 1}"
            )
            body = response["Body"]
            while await body.read(256 * 1024):
                pass

        async def put(n: int) -> None:
            await client.put_object(Bucket=bucket, Key=f"bench/small/{n}", Body=small_body())

        name = "aiobotocore, no fair slots"
        await measure(name, "warm-up", 50, 10, get)
        await measure(name, "warm-up", 100, args.put_concurrency, put)
        return [
            await measure(name, "GET 1.6 MB", args.requests, args.get_concurrency, get),
            await measure(name, "PUT 4 KiB", args.requests, args.put_concurrency, put),
        ]


async def bench_boto3_threads(
    endpoint: str, creds: tuple[str, str], bucket: str, args: argparse.Namespace
) -> list[Result]:
    import boto3
    from botocore.config import Config

    client: Any = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1], region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"}, max_pool_connections=args.pool,
            retries={"mode": "standard", "total_max_attempts": 3},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    pool = ThreadPoolExecutor(args.pool)
    loop = asyncio.get_running_loop()

    def get_sync() -> None:
        body = client.get_object(
            Bucket=bucket, Key="bench/segment.m4s", Range=f"bytes=0-{OBJECT_SIZE - 1}"
        )["Body"]
        for _chunk in body.iter_chunks(256 * 1024):
            pass

    async def get(n: int) -> None:
        await loop.run_in_executor(pool, get_sync)

    async def put(n: int) -> None:
        key, body = f"bench/small/{n}", small_body()
        await loop.run_in_executor(
            pool, lambda: client.put_object(Bucket=bucket, Key=key, Body=body)
        )

    name = "boto3 + threads"
    try:
        await measure(name, "warm-up", 50, 10, get)
        await measure(name, "warm-up", 100, args.put_concurrency, put)
        return [
            await measure(name, "GET 1.6 MB", args.requests, args.get_concurrency, get),
            await measure(name, "PUT 4 KiB", args.requests, args.put_concurrency, put),
        ]
    finally:
        pool.shutdown()


async def bench_minio_threads(
    endpoint: str, creds: tuple[str, str], bucket: str, args: argparse.Namespace,
    streamed: bool = False,
) -> list[Result]:
    import io

    import urllib3
    from minio import Minio

    host = endpoint.split("://", 1)[1]
    http = urllib3.PoolManager(maxsize=args.pool, retries=urllib3.Retry(total=2))
    client = Minio(host, access_key=creds[0], secret_key=creds[1], secure=False,
                   region="us-east-1", http_client=http)
    pool = ThreadPoolExecutor(args.pool)
    loop = asyncio.get_running_loop()

    def get_sync() -> None:
        response = client.get_object(bucket, "bench/segment.m4s", offset=0, length=OBJECT_SIZE)
        try:
            for _chunk in response.stream(256 * 1024):
                pass
        finally:
            response.close()
            response.release_conn()

    async def get(n: int) -> None:
        if not streamed:
            await loop.run_in_executor(pool, get_sync)
            return
        # As a store would serve it: each chunk read in a thread, handed to the loop.
        response = await loop.run_in_executor(
            pool, lambda: client.get_object(
                bucket, "bench/segment.m4s", offset=0, length=OBJECT_SIZE
            )
        )
        try:
            while await loop.run_in_executor(pool, response.read, 256 * 1024):
                pass
        finally:
            response.close()
            response.release_conn()

    async def put(n: int) -> None:
        data = small_body()
        await loop.run_in_executor(
            pool, lambda: client.put_object(bucket, f"bench/small/{n}", io.BytesIO(data), len(data))
        )

    name = "minio + threads, chunk by chunk" if streamed else "minio + threads"
    try:
        await measure(name, "warm-up", 50, 10, get)
        await measure(name, "warm-up", 100, args.put_concurrency, put)
        return [
            await measure(name, "GET 1.6 MB", args.requests, args.get_concurrency, get),
            await measure(name, "PUT 4 KiB", args.requests, args.put_concurrency, put),
        ]
    finally:
        pool.shutdown()


def small_body() -> bytes:
    return os.urandom(SMALL_SIZE)


# -- main ------------------------------------------------------------------------------------


async def run(endpoint: str, creds: tuple[str, str], args: argparse.Namespace) -> None:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    url = f"s3://{bucket}?endpoint={endpoint}"
    setup = S3Store.from_url(
        url, Settings(store=url, s3_access_key_id=creds[0], s3_secret_access_key=creds[1])
    )
    await setup.start()
    await setup.put_bytes("bench/segment.m4s", os.urandom(OBJECT_SIZE), content_type="video/mp4")
    # A fresh bucket makes SeaweedFS grow volumes on its first concurrent writes (seconds);
    # do that before any client is timed.
    await asyncio.gather(*(
        setup.put_bytes(f"bench/small/{n}", small_body(), content_type="text/plain")
        for n in range(200)
    ))
    await setup.close()

    print(
        f"{args.requests} requests per workload; GET concurrency {args.get_concurrency}, "
        f"PUT concurrency {args.put_concurrency}, connection pool / threads {args.pool}; "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| client | workload | req/s | p50 ms | p99 ms | CPU ms/req | lag p50 ms "
          "| lag p99 ms | lag max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    benches: dict[str, Callable[..., Awaitable[list[Result]]]] = {
        "aiobotocore": bench_aiobotocore,
        "aiobotocore-raw": bench_aiobotocore_raw,
        "boto3": bench_boto3_threads,
        "minio": bench_minio_threads,
        "minio-streamed": lambda *a: bench_minio_threads(*a, streamed=True),
    }
    for name in args.clients:
        for result in await benches[name](endpoint, creds, bucket, args):
            print(result.row(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="use this S3 server instead of starting SeaweedFS")
    parser.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", ""))
    parser.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--get-concurrency", type=int, default=200)
    parser.add_argument("--put-concurrency", type=int, default=50)
    parser.add_argument("--pool", type=int, default=32, help="connections (and threads)")
    parser.add_argument(
        "--clients", nargs="+",
        default=["aiobotocore", "aiobotocore-raw", "boto3", "minio", "minio-streamed"],
    )
    args = parser.parse_args()
    if args.endpoint:
        asyncio.run(run(args.endpoint, (args.access_key, args.secret_key), args))
        return
    with tempfile.TemporaryDirectory() as tmp, SeaweedServer(Path(tmp)) as server:
        asyncio.run(run(server.endpoint, (server.access_key, server.secret_key), args))


if __name__ == "__main__":
    main()
