"""Origin throughput from the S3 store (SeaweedFS) against the local-directory store.

    python bench/origin_store_compare.py [--seconds 4] [--runs 3] [--connections 64]

Starts SeaweedFS (`weed mini`, S3 on loopback) and two `vodstack origin` processes on the
same machine, one on a local-directory store and one on an S3 bucket, publishes the same
~1.6 MB segment and ~300 B media playlist to both, checks they serve identical bytes and
ETags, then runs `wrk -t2 -cN --latency` against each object on each origin. Runs alternate
the order of the two origins; the figures are medians over the runs, and the S3/local
ratios are the result to read on a shared, noisy machine. Needs `wrk` and `weed`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.processes import VodstackProcess
from tests.support.seaweed import SeaweedServer
from vodstack.settings import load_settings
from vodstack.store import ObjectStore, open_store

VIDEO_ID = "BenchStoreCompar"
SEGMENT_SIZE = 1_600_000
PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    '#EXT-X-MAP:URI="init.mp4"\n'
    + "".join(f"#EXTINF:4.000000,\n{n}.m4s\n" for n in range(6))
    + "#EXT-X-ENDLIST\n"
).encode()
OBJECTS = {
    "segment": ("v1/720p/0.m4s", os.urandom(SEGMENT_SIZE), "video/iso.segment"),
    "playlist": ("v1/720p/index.m3u8", PLAYLIST, "application/vnd.apple.mpegurl"),
}
BACKENDS = ("local", "s3")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    bytes_per_second: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    transfer = re.search(r"Transfer/sec:\s*([\d.]+)([KMG]?)B", output)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if not (rate and transfer and p99):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        bytes_per_second=float(transfer.group(1)) * _UNITS[transfer.group(2)],
        p99_ms=float(p99.group(1)) * _TIME_UNITS[p99.group(2)],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    )


def run_wrk(url: str, seconds: float, connections: int) -> WrkResult:
    # A 10 s request timeout: slow answers are measured, not dropped as wrk's 2 s default would.
    command = [
        "wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency", url
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    return parse_wrk(output)


async def publish(store: ObjectStore) -> None:
    await store.start()
    try:
        for path, data, content_type in OBJECTS.values():
            await store.put_bytes(f"videos/{VIDEO_ID}/{path}", data, content_type=content_type)
    finally:
        await store.close()


def fetch(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers["ETag"], response.read()


def median_result(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        requests_per_second=statistics.median(r.requests_per_second for r in results),
        bytes_per_second=statistics.median(r.bytes_per_second for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="wrk duration per run")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per backend")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp, SeaweedServer(Path(tmp) / "seaweed") as s3:
        root = Path(tmp)
        envs = {
            "local": {"VODSTACK_STORE": f"file://{root / 'store'}"},
            "s3": {"VODSTACK_STORE": s3.store_url("bench-origin"), **s3.env()},
        }
        for backend in BACKENDS:
            asyncio.run(publish(open_store(load_settings(envs[backend]))))
        origins = {
            backend: VodstackProcess(
                ["origin", "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
                log_path=root / f"origin-{backend}.log",
                env={**envs[backend], "VODSTACK_DATA_DIR": str(root / backend)},
            )
            for backend in BACKENDS
        }
        try:
            urls = {
                (backend, name): f"{origins[backend].url}/v/{VIDEO_ID}/{path}"
                for backend in BACKENDS
                for name, (path, _data, _type) in OBJECTS.items()
            }
            for name, (_path, data, _type) in OBJECTS.items():
                served = [fetch(urls[backend, name]) for backend in BACKENDS]
                assert served[0] == served[1] and served[0][1] == data, f"{name} differs"

            results: dict[tuple[str, str], list[WrkResult]] = {key: [] for key in urls}
            for run in range(args.runs):
                order = BACKENDS if run % 2 == 0 else BACKENDS[::-1]
                for name in OBJECTS:
                    for backend in order:
                        result = run_wrk(urls[backend, name], args.seconds, args.connections)
                        results[backend, name].append(result)
                        print(
                            f"run {run + 1} {name:8} {backend:5} "
                            f"{result.requests_per_second:8.0f} req/s "
                            f"{result.bytes_per_second / 1e6:8.1f} MB/s "
                            f"p99 {result.p99_ms:7.1f} ms",
                            file=sys.stderr,
                        )
        finally:
            for origin in origins.values():
                origin.stop()

    print(
        f"\nwrk -t2 -c{args.connections} -d{args.seconds:g}s, medians of {args.runs} "
        f"alternating runs, {os.cpu_count()} CPUs (origin, wrk and SeaweedFS share them)"
    )
    print(
        f"{'object':10} {'store':6} {'req/s':>9} {'MB/s':>8} {'p99 ms':>8} "
        f"{'non-2xx':>8} {'sock err':>8}"
    )
    medians = {key: median_result(value) for key, value in results.items()}
    for name in OBJECTS:
        for backend in BACKENDS:
            m = medians[backend, name]
            print(
                f"{name:10} {backend:6} {m.requests_per_second:9.0f} "
                f"{m.bytes_per_second / 1e6:8.1f} {m.p99_ms:8.1f} {m.non_2xx:8d} "
                f"{m.socket_errors:8d}"
            )
        local, remote = medians["local", name], medians["s3", name]
        ratio = dataclasses.replace(
            remote,
            requests_per_second=remote.requests_per_second / local.requests_per_second,
            p99_ms=remote.p99_ms / local.p99_ms,
        )
        print(
            f"{name:10} {'s3/local':8} {ratio.requests_per_second:7.2f}x throughput, "
            f"{ratio.p99_ms:.2f}x p99"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
