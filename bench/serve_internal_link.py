"""`vodstack serve`'s private link from its edge to the internal app: unix socket vs TCP.

    python bench/serve_internal_link.py [--rounds 3] [--seconds 8] [--connections 16]

Starts the serve stack in this process (worker off) with each kind of link in turn,
publishes a small playlist and a 1.6 MB segment into its store, and runs `wrk` against the
edge with `Cache-Control: no-store` (so every request crosses the link to the origin), then
uploads 200 MiB with curl. Rounds alternate between the links; medians are printed.

Besides rates and latencies (which swing with whatever else runs on the machine), it
reports the CPU time this process (edge + origin + API) spends per request and per MB
uploaded: the cost of the link itself, and steady under load from other processes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vodstack.embedded import EmbeddedStack, Link
from vodstack.media import content_type_for
from vodstack.settings import Settings
from vodstack.store.local import LocalStore

VIDEO = "BenchLinkVideo01"
SEGMENT = 1_600_000
UPLOAD = 200 * 1024 * 1024
MASTER = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv1/360p/index.m3u8\n" * 4


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))


async def publish(store_dir: Path) -> None:
    store = LocalStore(store_dir)
    await store.start()
    for key, data in (
        (f"videos/{VIDEO}/master.m3u8", MASTER),
        (f"videos/{VIDEO}/v1/360p/0.m4s", os.urandom(SEGMENT)),
    ):
        await store.put_bytes(key, data, content_type=content_type_for(key))
    await store.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def wrk(url: str, seconds: int, connections: int) -> tuple[float, float, float, float]:
    """(requests/s, p50 ms, p99 ms, CPU µs of this process per request)."""
    cpu = cpu_seconds()
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-H", "Cache-Control: no-store", url,
        stdout=asyncio.subprocess.PIPE,
    )
    out = (await process.communicate())[0].decode()
    cpu = cpu_seconds() - cpu
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]

    def percentile(name: str) -> float:
        value, unit = re.search(rf"{name}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rate, percentile("50"), percentile("99"), cpu / max(1, requests) * 1e6


async def upload(url: str, path: Path) -> tuple[float, float]:
    """(MB/s, CPU ms of this process per MB) of one streamed 200 MiB upload with curl."""
    started = time.monotonic()
    cpu = cpu_seconds()
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "/dev/null", "-H", "Content-Type: application/octet-stream",
        "-H", "Expect:", "--data-binary", f"@{path}", f"{url}/v1/videos?filename=bench.bin",
    )
    await process.wait()
    return UPLOAD / (time.monotonic() - started) / 1e6, (cpu_seconds() - cpu) * 1e3 / (UPLOAD / 1e6)


async def one_round(link: Link, args: argparse.Namespace, work: Path, body: Path) -> list[float]:
    data = work / f"data-{link}"
    settings = Settings(
        data_dir=data, port=0, worker_concurrency=0, health_check_interval=0.0,
        cache_size=64 * 1024**2,
    )
    await publish(data / "store")
    stack = EmbeddedStack(settings, link=link)
    url = await stack.start()
    try:
        small = await wrk(f"{url}/v/{VIDEO}/master.m3u8", args.seconds, args.connections)
        large = await wrk(f"{url}/v/{VIDEO}/v1/360p/0.m4s", args.seconds, args.connections)
        rate = await upload(url, body)
    finally:
        await stack.stop()
    return [*small, *large, *rate]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    results: dict[str, list[list[float]]] = {"tcp": [], "unix": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        body = work / "upload.bin"
        await asyncio.to_thread(write_random, body, UPLOAD)
        for number in range(args.rounds):
            for link in ("tcp", "unix") if number % 2 == 0 else ("unix", "tcp"):
                results[link].append(await one_round(link, args, work, body))  # type: ignore[arg-type]
                print(link, [round(v, 1) for v in results[link][-1]], flush=True)
    print()
    print(
        "| link | playlist req/s | p50 ms | p99 ms | CPU µs/req "
        "| 1.6 MB segment req/s | p50 ms | p99 ms | CPU µs/req | upload MB/s | CPU ms/MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for link, rounds in results.items():
        medians = [statistics.median(column) for column in zip(*rounds, strict=True)]
        print(f"| {link} | " + " | ".join(f"{value:.1f}" for value in medians) + " |")


if __name__ == "__main__":
    asyncio.run(main())
