"""Requests per second of the edge on cache hits (and on misses passed through), with wrk.

    python bench/edge_hits.py [--size 200000] [--seconds 10] [--connections 64]

Starts a small aiohttp origin and `vodstack edge` in front of it on 127.0.0.1, fills the
cache with one segment-sized object, then runs `wrk` against the edge (HIT path) and
against a `no-store` URL (every request goes upstream). Also measures, for a segment-sized
object, the two ways of answering a Range request on a miss: fetch the whole object once
(what the edge does) versus passing each range upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

ORIGIN = textwrap.dedent("""
    import sys
    from aiohttp import web
    size = int(sys.argv[2])
    body = bytes(range(256)) * (size // 256 + 1)
    body = body[:size]
    async def seg(request):
        headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": '"s"',
                   "Accept-Ranges": "bytes"}
        rng = request.headers.get("Range")
        if rng:
            start, _, end = rng.removeprefix("bytes=").partition("-")
            start, end = int(start), int(end or size - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return web.Response(status=206, body=body[start:end + 1], headers=headers)
        return web.Response(body=body, headers=headers)
    async def api(request):
        return web.json_response({"ok": True}, headers={"Cache-Control": "no-store"})
    app = web.Application()
    app.router.add_get("/v/x/{name}", seg)
    app.router.add_get("/api", api)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, seconds: int, connections: int, headers: list[str] | None = None) -> float:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    for header in headers or []:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


async def range_miss_costs(edge: str, origin: str, size: int, ranges: int) -> tuple[float, float]:
    """(seconds to answer `ranges` sequential Range requests for fresh objects through the
    edge, seconds when each range goes straight to the origin)."""
    import aiohttp

    step = size // ranges
    async with aiohttp.ClientSession() as session:
        async def run(base: str, prefix: str) -> float:
            began = time.perf_counter()
            for n in range(20):
                for index in range(ranges):
                    header = {"Range": f"bytes={index * step}-{(index + 1) * step - 1}"}
                    async with session.get(f"{base}/v/x/{prefix}{n}.m4s", headers=header) as r:
                        await r.read()
            return (time.perf_counter() - began) / 20

        return await run(edge, "edge-"), await run(origin, "direct-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000, help="object size in bytes")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    origin_port, edge_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "VODSTACK_LOG_LEVEL": "warning"}
    procs = [
        subprocess.Popen([sys.executable, "-c", ORIGIN, str(origin_port), str(args.size)]),
    ]
    try:
        wait_for(f"http://127.0.0.1:{origin_port}/api")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "vodstack", "edge", "--upstream",
             f"http://127.0.0.1:{origin_port}", "--port", str(edge_port),
             "--cache-size", "256MiB"],
            env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
        ))
        edge = f"http://127.0.0.1:{edge_port}"
        origin = f"http://127.0.0.1:{origin_port}"
        wait_for(edge + "/healthz")
        urllib.request.urlopen(edge + "/v/x/seg.m4s").read()
        hits = wrk(edge + "/v/x/seg.m4s", args.seconds, args.connections)
        small = wrk(edge + "/v/x/seg.m4s", args.seconds, args.connections,
                    ["Range: bytes=0-1023"])
        passed = wrk(edge + "/api", args.seconds, args.connections)
        direct = wrk(origin + "/api", args.seconds, args.connections)
        whole, ranged = asyncio.run(range_miss_costs(edge, origin, args.size, 4))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)
    print(f"object {args.size} bytes, wrk -t2 -c{args.connections} -d{args.seconds}s, "
          f"one edge process (uvloop)")
    print(f"  HIT, whole object            {hits:>10.0f} req/s")
    print(f"  HIT, Range 1 KiB (206)       {small:>10.0f} req/s")
    print(f"  no-store, through the edge   {passed:>10.0f} req/s")
    print(f"  no-store, origin directly    {direct:>10.0f} req/s")
    print("Range on a miss, 4 sequential quarter ranges of a new object:")
    print(f"  edge (whole object fetched once, ranges from cache)  {whole * 1000:.1f} ms")
    print(f"  each range sent to the origin                        {ranged * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
