"""What the pages cost the server: status polling, page shells and assets, measured with wrk.

    python bench/pages_wrk.py [--seconds 10] [--connections 16]

Starts `vodstack ingest` (which serves the pages) in a temporary directory, uploads a small
file so there is a queued video to poll, then runs wrk against the status API (what every
open page polls once a second while a video is queued or transcoding), the library and
watch pages and hls.js; it also prints what a first visit downloads. Needs `wrk` on PATH.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.hls import upload_file
from tests.support.processes import VodstackProcess


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> str:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    output = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    p99 = re.search(r"99%\s+(\S+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    line = f"{float(rate.group(1)) if rate else 0:8.0f} req/s"
    line += f"  p99 {p99.group(1) if p99 else '?':>8}"
    if non_2xx:
        line += f"  NON-2xx: {non_2xx.group(1)}"
    return line


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def first_visit_bytes(base: str, path: str, encoding: str) -> int:
    """The page plus every asset it names, as sent with this Accept-Encoding."""
    headers = {"Accept-Encoding": encoding}
    page = fetch(base + path, headers)
    assets = re.findall(rb'(?:src|href)="(/assets/[^"]+)"', page)
    imports = set()
    for asset in assets:
        body = fetch(base + asset.decode())
        imports |= {m.decode() for m in re.findall(rb'from "\./([a-z]+\.js)"', body)}
    version_dir = assets[0].decode().rsplit("/", 1)[0]
    urls = {a.decode() for a in assets} | {f"{version_dir}/{name}" for name in imports}
    return len(page) + sum(len(fetch(base + url, headers)) for url in urls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        server = VodstackProcess(
            ["ingest", "--port", "0", "--data-dir", tmp, "--log-level", "warning"],
            log_path=data_dir / "ingest.log",
        )
        try:
            sample = data_dir / "sample.mp4"
            sample.write_bytes(b"\0" * 4096)
            _code, created, _headers = upload_file(server.url, sample)
            video_id = created["id"]
            page = fetch(server.url + "/").decode()
            version = re.search(r"/assets/([0-9a-f]+)/", page).group(1)  # type: ignore[union-attr]
            hlsjs = f"/assets/{version}/hls.min.js"
            gzip = {"Accept-Encoding": "gzip"}
            with urllib.request.urlopen(
                urllib.request.Request(server.url + hlsjs, headers=gzip), timeout=30
            ) as response:
                hlsjs_etag = response.headers["ETag"]
            cases = [
                ("status API (the poll)", f"/v1/videos/{video_id}", {}),
                ("library page", "/", {}),
                ("watch page", f"/watch/{video_id}", {}),
                ("hls.min.js, gzip", hlsjs, gzip),
                ("hls.min.js, 304", hlsjs, {**gzip, "If-None-Match": hlsjs_etag}),
            ]
            print(f"wrk -t2 -c{args.connections} -d{args.seconds}s, one `vodstack ingest` process")
            for name, path, headers in cases:
                result = wrk(server.url + path, args.seconds, args.connections, headers)
                print(f"{name:24} {result}")
            for label, path in [("library", "/"), ("watch", f"/watch/{video_id}")]:
                plain = first_visit_bytes(server.url, path, "identity")
                packed = first_visit_bytes(server.url, path, "gzip")
                print(
                    f"first visit, {label:8} {plain / 1000:8.1f} kB plain, "
                    f"{packed / 1000:7.1f} kB gzip"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
