"""Throughput of a standalone origin against nginx serving the same files, with wrk.

    python bench/origin_wrk.py [--seconds 10] [--runs 3] [--connections 32]

Writes a master playlist, a 1 MB and a 6 MB segment through the store API, starts
`vodstack origin` on that local store and nginx serving the store's files (sendfile),
then measures each case on both, alternating, `--runs` rounds: a full GET of the
playlist, a 304 revalidation (each server's own ETag), full GETs of both segments, and a
64 KiB Range of the 6 MB one. Prints medians and the origin's requests/s as a multiple of
nginx's in the same round; JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.compare import Target, markdown_table, run_alternating, series_json
from bench.lib.nginx import Nginx, NginxOptions, running_as_root, static_config
from bench.lib.objects import put_objects, store_videos_dir
from bench.lib.results import describe_machine, machine_info, write_results
from bench.lib.services import start_origin
from bench.lib.wrk import run_wrk
from tests.support.processes import free_port

NGINX = "nginx static"
ORIGIN = "vodstack origin"
MASTER = b"#EXTM3U\n" + b"#EXT-X-STREAM-INF:BANDWIDTH=800000\nv1/720p/index.m3u8\n" * 6
RANGE_64K = {"Range": "bytes=1048576-1114111"}


def etag_of(url: str) -> str:
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["ETag"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    machine = machine_info()
    print(describe_machine(machine), flush=True)
    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        master, small, large = put_objects(data_dir / "store", {
            "playlist": ("master.m3u8", MASTER),
            "1 MB segment": ("v1/720p/0.m4s", os.urandom(1024 * 1024)),
            "6 MB segment": ("v1/1080p/0.m4s", os.urandom(6 * 1024 * 1024)),
        })  # fmt: skip
        origin = start_origin(data_dir, log_dir=root)
        nginx = None
        try:
            options = NginxOptions(root / "nginx", free_port(), "auto", running_as_root())
            nginx = Nginx(options, static_config(options, store_videos_dir(data_dir / "store")))
            bases = {ORIGIN: origin.url, NGINX: nginx.url}
            etags = {config: etag_of(base + master.path) for config, base in bases.items()}
            cases = [
                ("playlist 200", master.path, {}),
                ("playlist 304", master.path, None),
                ("1 MB segment 200", small.path, {}),
                ("6 MB segment 200", large.path, {}),
                ("6 MB segment 206 (64 KiB)", large.path, RANGE_64K),
            ]
            targets = [
                Target(config, case, base + path,
                       {"If-None-Match": etags[config]} if headers is None else headers)
                for case, path, headers in cases
                for config, base in bases.items()
            ]  # fmt: skip
            print(
                f"wrk -t2 -c{args.connections} -d{args.seconds}s, {args.runs} alternating "
                "runs; origin 1 process, nginx worker_processes auto",
                flush=True,
            )
            series = run_alternating(
                targets, args.runs,
                lambda t: run_wrk(
                    t.url, seconds=args.seconds, connections=args.connections, headers=t.headers
                ),
            )  # fmt: skip
        finally:
            if nginx is not None:
                nginx.stop()
            origin.stop()
    machine["load_average_after"] = machine_info()["load_average"]
    print()
    print(markdown_table(series, [NGINX]))
    print(f"\nload average before {machine['load_average']}, after {machine['load_average_after']}")
    path = write_results("origin_wrk", {
        "machine": machine, "settings": vars(args), "results": series_json(series, [NGINX]),
    })  # fmt: skip
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
