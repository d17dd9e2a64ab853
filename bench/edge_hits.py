"""The edge against nginx proxy_cache, both in front of `vodstack origin`, with wrk.

    python bench/edge_hits.py [--size 200000] [--seconds 10] [--runs 3] [--connections 64]

Writes a segment-sized object through the store API, starts `vodstack origin`, and in
front of it `vodstack edge` and nginx with proxy_cache; fills both caches, then measures,
alternating edge and nginx for `--runs` rounds: cache hits of the whole object, hits of a
1 KiB Range (206 from the cache), and a small object stored with `Cache-Control: no-store`
(every request goes upstream; also measured on the origin directly). Then, for a new object each
time, the two ways of answering 4 sequential quarter ranges on a miss: through the edge
(it fetches the whole object once, then answers the ranges from its cache) versus each
range straight to the origin.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.compare import Target, markdown_table, run_alternating, series_json
from bench.lib.nginx import Nginx, NginxOptions, proxy_cache_config, running_as_root
from bench.lib.objects import BenchObject, put_objects
from bench.lib.results import describe_machine, machine_info, write_results
from bench.lib.services import Stoppable, start_edge, start_origin
from bench.lib.wrk import run_wrk
from tests.support.processes import free_port

EDGE = "vodstack edge"
NGINX = "nginx proxy_cache"
ORIGIN = "vodstack origin"
MISS_ROUNDS = 20
QUARTERS = 4


async def range_miss_costs(
    edge: str, origin: str, edge_objects: list[BenchObject], origin_objects: list[BenchObject]
) -> tuple[float, float]:
    """Median seconds to fetch 4 sequential quarter ranges of a never-fetched object:
    through the edge, and straight from the origin."""

    async def quarters(http: aiohttp.ClientSession, url: str, size: int) -> float:
        step = size // QUARTERS
        began = time.perf_counter()
        for index in range(QUARTERS):
            header = {"Range": f"bytes={index * step}-{(index + 1) * step - 1}"}
            async with http.get(url, headers=header) as response:
                assert response.status == 206, response.status
                await response.read()
        return time.perf_counter() - began

    async with aiohttp.ClientSession() as http:
        through_edge = [await quarters(http, edge + o.path, o.size) for o in edge_objects]
        direct = [await quarters(http, origin + o.path, o.size) for o in origin_objects]
    return statistics.median(through_edge), statistics.median(direct)


def fill(url: str, size: int) -> str:
    state = ""
    for _ in range(2):
        with urllib.request.urlopen(url, timeout=30) as response:
            if len(response.read()) != size:
                raise SystemExit(f"{url}: short body")
            state = response.headers.get("X-Cache", "")
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000, help="object size in bytes")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--edge-processes", type=int, default=1)
    args = parser.parse_args()

    machine = machine_info()
    print(describe_machine(machine), flush=True)
    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        wanted: dict[str, tuple[str, bytes] | tuple[str, bytes, str]] = {
            "segment": ("v1/720p/0.m4s", os.urandom(args.size)),
            "uncacheable": ("v1/api/answer.json", b'{"ok": true}', "no-store"),
        }
        for n in range(MISS_ROUNDS):
            wanted[f"edge-{n}"] = (f"v1/miss/edge-{n}.m4s", os.urandom(args.size))
            wanted[f"direct-{n}"] = (f"v1/miss/direct-{n}.m4s", os.urandom(args.size))
        objects = {obj.name: obj for obj in put_objects(data_dir / "store", wanted)}
        segment, uncacheable = objects["segment"], objects["uncacheable"]
        started: list[Stoppable] = []
        try:
            origin = start_origin(data_dir, log_dir=root)
            started.append(origin)
            edge = start_edge(origin.url, log_dir=root, processes=args.edge_processes,
                              cache_size="256MiB")  # fmt: skip
            started.append(edge)
            options = NginxOptions(root / "nginx", free_port(), "auto", running_as_root())
            nginx = Nginx(options, proxy_cache_config(options, origin.url))
            started.append(nginx)
            for name, base in ((EDGE, edge.url), (NGINX, nginx.url)):
                state = fill(base + segment.path, segment.size)
                if not state.startswith("HIT"):
                    raise SystemExit(f"{name} does not cache the segment: X-Cache {state!r}")
            small_range = {"Range": "bytes=0-1023"}
            targets = [
                Target(EDGE, "HIT, whole object", edge.url + segment.path),
                Target(NGINX, "HIT, whole object", nginx.url + segment.path),
                Target(EDGE, "HIT, Range 1 KiB (206)", edge.url + segment.path, small_range),
                Target(NGINX, "HIT, Range 1 KiB (206)", nginx.url + segment.path, small_range),
                Target(EDGE, "no-store, through", edge.url + uncacheable.path),
                Target(NGINX, "no-store, through", nginx.url + uncacheable.path),
                Target(ORIGIN, "no-store, through", origin.url + uncacheable.path),
            ]
            print(
                f"object {args.size} bytes; wrk -t2 -c{args.connections} -d{args.seconds}s, "
                f"{args.runs} alternating runs; edge {args.edge_processes} process(es), "
                "nginx worker_processes auto; 'no-store' on the origin is the origin directly",
                flush=True,
            )
            series = run_alternating(
                targets, args.runs,
                lambda t: run_wrk(
                    t.url, seconds=args.seconds, connections=args.connections, headers=t.headers
                ),
            )  # fmt: skip
            whole, ranged = asyncio.run(range_miss_costs(
                edge.url, origin.url,
                [objects[f"edge-{n}"] for n in range(MISS_ROUNDS)],
                [objects[f"direct-{n}"] for n in range(MISS_ROUNDS)],
            ))  # fmt: skip
        finally:
            for service in reversed(started):
                service.stop()
    machine["load_average_after"] = machine_info()["load_average"]
    print()
    print(markdown_table(series, [NGINX]))
    print(f"\nRange on a miss, {QUARTERS} sequential quarter ranges of a new object "
          f"(median of {MISS_ROUNDS}):")  # fmt: skip
    print(f"  edge (whole object fetched once, ranges from cache)  {whole * 1000:.1f} ms")
    print(f"  each range sent to the origin                        {ranged * 1000:.1f} ms")
    print(f"\nload average before {machine['load_average']}, after {machine['load_average_after']}")
    path = write_results("edge_hits", {
        "machine": machine, "settings": vars(args), "results": series_json(series, [NGINX]),
        "range_miss_ms": {"edge_whole_fetch": whole * 1000, "direct_ranges": ranged * 1000},
    })  # fmt: skip
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
