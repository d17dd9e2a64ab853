"""Throughput of a standalone origin, measured with wrk.

    python bench/origin_wrk.py [--seconds 10] [--connections 32]

Starts `vodstack origin` on a temporary local store holding a playlist, a 1 MB segment and
a 6 MB segment, then runs wrk against each (full GET, a Range, and a 304 revalidation) and
prints requests/s and throughput. Needs `wrk` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.processes import VodstackProcess
from vodstack.store.local import LocalStore

VIDEO_ID = "BenchBenchBench0"
OBJECTS = {
    "master.m3u8": b"#EXTM3U\n" + b"#EXT-X-STREAM-INF:BANDWIDTH=800000\nv1/720p/index.m3u8\n" * 6,
    "v1/720p/0.m4s": os.urandom(1024 * 1024),
    "v1/1080p/0.m4s": os.urandom(6 * 1024 * 1024),
}


async def publish(store_dir: Path) -> dict[str, str]:
    store = LocalStore(store_dir, fsync=False)
    await store.start()
    etags = {}
    for name, data in OBJECTS.items():
        info = await store.put_bytes(f"videos/{VIDEO_ID}/{name}", data, content_type="x")
        etags[name] = info.etag
    return etags


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> str:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    output = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    transfer = re.search(r"Transfer/sec:\s*(\S+)", output)
    p99 = re.search(r"99%\s+(\S+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    line = f"{float(rate.group(1)) if rate else 0:10.0f} req/s"
    line += f"  {transfer.group(1) if transfer else '?':>10}/s"
    line += f"  p99 {p99.group(1) if p99 else '?':>8}"
    if non_2xx:
        line += f"  NON-2xx: {non_2xx.group(1)}"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        etags = asyncio.run(publish(data_dir / "store"))
        origin = VodstackProcess(
            ["origin", "--port", "0", "--data-dir", tmp, "--log-level", "warning"],
            log_path=data_dir / "origin.log",
        )
        try:
            cases = [
                ("playlist 200", "master.m3u8", {}),
                ("playlist 304", "master.m3u8", {"If-None-Match": etags["master.m3u8"]}),
                ("1 MB segment 200", "v1/720p/0.m4s", {}),
                ("6 MB segment 200", "v1/1080p/0.m4s", {}),
                ("6 MB segment 206 (64 KiB)", "v1/1080p/0.m4s", {"Range": "bytes=1048576-1114111"}),
            ]
            print(f"wrk -t2 -c{args.connections} -d{args.seconds}s, {os.cpu_count()} CPUs")
            for label, name, headers in cases:
                url = f"{origin.url}/v/{VIDEO_ID}/{name}"
                print(f"{label:28} {wrk(url, args.seconds, args.connections, headers)}")
        finally:
            origin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
