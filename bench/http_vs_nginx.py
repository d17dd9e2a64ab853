"""Our HTTP serving against nginx on the same machine, in the same minutes.

    python bench/http_vs_nginx.py [--seconds 10] [--runs 3] [--connections 64]
                                  [--edge-processes 1 2] [--only "nginx proxy_cache" ...]

These configurations, each for a 1.6 MB segment and a 300 B playlist written through the
store API (with their content type and Cache-Control):
  1. nginx static: the store's files served by nginx with sendfile (the bar for "serving
     bytes from disk");
  2. nginx proxy_cache: nginx caching in front of `vodstack origin`, every request a hit;
  3. vodstack edge: `vodstack edge` in front of `vodstack origin`, every request a hit;
     with --edge-processes 1 2 one configuration per process count ("vodstack edge x1",
     "vodstack edge x2"), else the edge's default (one process per CPU);
  4. vodstack origin: the origin reading the local store.
Each is measured with `wrk -t2 -cN -dS --latency`, all of them in turn, `--runs` rounds
(A B C D A B C D ...). Prints medians, p50/p90/p99, errors and each configuration's
requests/s as a multiple of nginx static and of nginx proxy_cache in the same round, as
a markdown table; writes everything to bench/results/http_vs_nginx-<time>.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.compare import Target, markdown_table, run_alternating, series_json
from bench.lib.nginx import Nginx, NginxOptions, proxy_cache_config, running_as_root, static_config
from bench.lib.objects import BenchObject, put_bench_objects, store_videos_dir
from bench.lib.results import describe_machine, machine_info, write_results
from bench.lib.services import Stoppable, start_edge, start_origin
from bench.lib.wrk import run_wrk
from tests.support.processes import free_port

NGINX_STATIC = "nginx static"
NGINX_CACHE = "nginx proxy_cache"
ORIGIN = "vodstack origin"
PEERS = (NGINX_STATIC, NGINX_CACHE)


def edge_name(processes: int | None) -> str:
    return "vodstack edge" if processes is None else f"vodstack edge x{processes}"


def warm(base: str, obj: BenchObject) -> str | None:
    """Fetch through a cache until it is stored (a multi-process edge copies what one process
    stored to the others within milliseconds); the last answer's X-Cache (HIT when cached)."""
    state = None
    for attempt in range(3):
        if attempt:
            time.sleep(0.2)
        with urllib.request.urlopen(base + obj.path, timeout=30) as response:
            body = response.read()
            state = response.headers.get("X-Cache")
        if len(body) != obj.size:
            raise SystemExit(f"{base}{obj.path}: {len(body)} bytes, expected {obj.size}")
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nginx-workers", default="auto", help="worker_processes (default auto)")
    parser.add_argument(
        "--edge-processes", type=int, nargs="+", default=[None],
        help="one edge configuration per process count (default: the edge's own, one per "
        "CPU); e.g. `--edge-processes 1 2`",
    )
    parser.add_argument("--only", nargs="+", help="measure only these configurations")
    args = parser.parse_args()

    machine = machine_info()
    print(describe_machine(machine), flush=True)
    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        objects = put_bench_objects(data_dir / "store")
        as_root = running_as_root()
        started: list[Stoppable] = []
        try:
            # Access logs off, as nginx's (the edge's are turned off by start_edge).
            origin = start_origin(data_dir, log_dir=root, extra=("--access-log", "false"))
            started.append(origin)
            edges = {}
            for processes in args.edge_processes:
                edge = start_edge(origin.url, log_dir=root, processes=processes,
                                  name=f"edge-x{processes or 'default'}")  # fmt: skip
                started.append(edge)
                edges[edge_name(processes)] = edge.url
            static = Nginx(
                options := NginxOptions(root / "nginx-static", free_port(), args.nginx_workers,
                                        as_root),
                static_config(options, store_videos_dir(data_dir / "store")),
            )  # fmt: skip
            started.append(static)
            cache = Nginx(
                options := NginxOptions(root / "nginx-cache", free_port(), args.nginx_workers,
                                        as_root),
                proxy_cache_config(options, origin.url),
            )  # fmt: skip
            started.append(cache)
            bases = {NGINX_STATIC: static.url, NGINX_CACHE: cache.url, **edges,
                     ORIGIN: origin.url}  # fmt: skip
            configs = [name for name in bases if not args.only or name in args.only]
            for obj in objects:
                for name in (NGINX_CACHE, *edges):
                    state = warm(bases[name], obj)
                    if (state or "").split()[0:1] != ["HIT"]:
                        raise SystemExit(f"{name} does not cache {obj.path}: X-Cache {state!r}")
                warm(bases[NGINX_STATIC], obj)
                warm(bases[ORIGIN], obj)
            targets = [
                Target(config, obj.name, bases[config] + obj.path)
                for obj in objects
                for config in configs
            ]
            print(
                f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s --latency, "
                f"{args.runs} alternating runs; nginx worker_processes {args.nginx_workers}, "
                f"vodstack edge with {args.edge_processes} process(es) (None: one per CPU), "
                "vodstack origin with its default processes (one per CPU); access logs "
                "off, as nginx's",
                flush=True,
            )
            series = run_alternating(
                targets, args.runs,
                lambda target: run_wrk(
                    target.url, seconds=args.seconds, connections=args.connections,
                    threads=args.threads, headers=target.headers,
                ),
            )  # fmt: skip
        finally:
            for service in reversed(started):
                service.stop()
    machine["load_average_after"] = machine_info()["load_average"]
    print()
    print(markdown_table(series, PEERS))
    print(
        f"\nx: requests/s as a multiple of the peer's in the same round (median of "
        f"{args.runs}); load average before {machine['load_average']}, after "
        f"{machine['load_average_after']}"
    )
    path = write_results("http_vs_nginx", {
        "machine": machine,
        "settings": vars(args),
        "objects": [obj.__dict__ for obj in objects],
        "results": series_json(series, PEERS),
    })  # fmt: skip
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
