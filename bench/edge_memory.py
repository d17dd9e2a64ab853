"""The edge's memory under a load that fills its cache with many distinct objects.

    python bench/edge_memory.py [--seconds 60] [--cache-size 256MiB] [--processes N]

An upstream made for this (in a subprocess) answers any `/seg/<n>.m4s` with 1.6 MB and
any `/pl/<n>.m3u8` with 300 B, cacheable for a year. wrk (with a Lua script choosing
URLs at random) asks the edge for 2,000 distinct segments (3.2 GB, twelve times a
256 MiB cache) and 20,000 distinct playlists, 7 segments for 3 playlists, on 32
connections, so nearly every request is a miss that stores, copies to the other worker
processes and evicts. Every half second the resident memory of the edge (the supervisor
and every worker, from /proc) is added up; the peak is compared with cache_size + 100 MiB.
Writes bench/results/edge_memory-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.results import describe_machine, machine_info, write_results
from bench.lib.services import start_edge
from bench.lib.wrk import parse_wrk
from tests.support.processes import free_port
from tests.support.proctree import descendants
from tests.support.rss import status_bytes
from vodstack.settings import parse_size

SEGMENT = 1_600_000
PLAYLIST = 300
SEGMENTS = 2_000
PLAYLISTS = 20_000
HEADROOM = 100 * 1024 * 1024
TOKEN = "bench-purge-token"

LUA = """
math.randomseed(os.time())
request = function()
  if math.random() < 0.7 then
    return wrk.format(nil, "/seg/" .. math.random(1, %d) .. ".m4s")
  end
  return wrk.format(nil, "/pl/" .. math.random(1, %d) .. ".m3u8")
end
"""


def serve_upstream(port: int) -> None:
    """The upstream: fixed bodies under any number, cacheable for a year."""
    from aiohttp import web

    segment = bytes(range(256)) * (SEGMENT // 256) + b"\0" * (SEGMENT % 256)
    playlist = b"#EXTM3U\n" + b"#" * (PLAYLIST - 8)
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/healthz":
            return web.json_response({"status": "ok"})
        body = segment if request.path.startswith("/seg/") else playlist
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


PEAKS: dict[int, int] = {}
"""Highest RSS seen per process."""


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of `pid` and its descendants added up. RSS counts the pages they share
    (the interpreter, libraries) once per process; PSS splits them between the sharers."""
    rss = pss = 0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, AssertionError, ValueError):  # gone meanwhile
            mine = status_bytes(member, "VmRSS")
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
            pss += int(rollup.split("\nPss:", 1)[1].split()[0]) * 1024
            rss += mine
            PEAKS[member] = max(PEAKS.get(member, 0), mine)
    return rss, pss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--cache-size", default="256MiB")
    parser.add_argument("--processes", type=int, default=None,
                        help="edge worker processes (default: the edge's, one per CPU)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)  # the upstream's own process
    args = parser.parse_args()
    if args.upstream:
        serve_upstream(int(args.upstream))
        return 0

    machine = machine_info()
    print(describe_machine(machine), flush=True)
    cache_size = parse_size(args.cache_size)
    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        port = free_port()
        upstream = subprocess.Popen([sys.executable, __file__, "--upstream", str(port)])
        edge = None
        try:
            asyncio.run(_wait_for(port))
            edge = start_edge(f"http://127.0.0.1:{port}", log_dir=root,
                              processes=args.processes, cache_size=args.cache_size,
                              extra=("--purge-token", TOKEN))  # fmt: skip
            pid = edge.proc.pid
            idle, idle_pss = tree_memory(pid)
            script = root / "urls.lua"
            script.write_text(LUA % (SEGMENTS, PLAYLISTS))
            samples: list[tuple[float, int, int]] = []
            done = threading.Event()

            def sample() -> None:
                began = time.monotonic()
                while not done.is_set():
                    samples.append((time.monotonic() - began, *tree_memory(pid)))
                    done.wait(0.5)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            wrk = subprocess.run(
                ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
                 "--timeout", "10s", "-s", str(script), edge.url],
                capture_output=True, text=True, timeout=args.seconds + 60, check=False,
            )  # fmt: skip
            done.set()
            sampler.join()
            result = parse_wrk(wrk.stdout)
            stats = _stats(edge.url)
            workers = len(descendants(pid)) or 1
        finally:
            if edge is not None:
                edge.stop()
            upstream.terminate()
            upstream.wait(10)
    peak = max(rss for _t, rss, _pss in samples)
    peak_pss = max(pss for _t, _rss, pss in samples)
    bound = cache_size + HEADROOM
    mib = 1024 * 1024
    print(f"\nedge ({workers} worker process(es)), cache_size {cache_size / mib:.0f} MiB, "
          f"{args.seconds} s of wrk -c{args.connections} over {SEGMENTS} segments and "
          f"{PLAYLISTS} playlists")  # fmt: skip
    print(f"requests: {result.requests:,} ({result.requests_per_second:,.0f}/s, "
          f"{result.megabytes_per_second:,.0f} MB/s), errors {result.errors}")
    print(f"cache: {stats.get('cache')}; counters: {stats.get('counters')}")
    print("peak RSS per process (supervisor first): " + ", ".join(
        f"{peak / mib:.0f} MiB" for _pid, peak in sorted(PEAKS.items())
    ))
    print(f"RSS of every edge process: idle {idle / mib:.0f} MiB, peak {peak / mib:.0f} MiB "
          f"(bound: cache_size + 100 MiB = {bound / mib:.0f} MiB) -> "
          f"{'within' if peak <= bound else 'OVER'}; PSS idle {idle_pss / mib:.0f} MiB, "
          f"peak {peak_pss / mib:.0f} MiB")
    machine["load_average_after"] = machine_info()["load_average"]
    path = write_results("edge_memory", {
        "machine": machine, "settings": vars(args), "cache_size": cache_size,
        "idle_rss": idle, "peak_rss": peak, "idle_pss": idle_pss, "peak_pss": peak_pss,
        "bound": bound, "within": peak <= bound, "peaks": PEAKS,
        "wrk": result.to_json(), "stats": stats, "samples": samples,
    })  # fmt: skip
    print(f"results: {path}")
    return 0 if peak <= bound else 1


async def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("the upstream did not start")


def _stats(url: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url + "/_edge/stats", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


if __name__ == "__main__":
    sys.exit(main())
