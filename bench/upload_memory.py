"""Peak memory of every vodstack process while a 2 GiB video is uploaded and starts
transcoding.

    python bench/upload_memory.py [--size-mib 2048] [--mode serve|split|both]

Makes a video of about `--size-mib` MiB (a generated 60 s 1080p clip repeated with a
stream copy, so it is a real, long video), then for each mode:
- serve: `vodstack serve` (edge, upload API, worker and origin in one process);
- split: `vodstack edge` in front of `vodstack ingest`, and a separate `vodstack worker`,
  on the same data directory (local store, SQLite);
uploads it through the edge (raw body, streamed from disk), then follows the job until the
video is playable (probe, ffmpeg started, first segments published). Prints the peak RSS
(VmHWM) of each vodstack process during the upload and during the transcode start, and of
the ffmpeg/ffprobe children for reference (not vodstack processes), then deletes the video.
Writes bench/results/upload_memory-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.results import describe_machine, machine_info, write_results
from bench.lib.services import QUIET
from bench.lib.transcode import CLIP_DIR, bench_clip
from tests.support.processes import VodstackProcess
from tests.support.rss import reset_peak, status_bytes

MiB = 1024 * 1024
LIMIT = 200 * MiB


def big_video(size: int, directory: Path = CLIP_DIR) -> Path:
    """A 1080p H.264/AAC MP4 of at least `size` bytes: the 60 s bench clip, looped."""
    clip = bench_clip(60, 1920, 1080)
    loops = -(-size // clip.stat().st_size)
    path = directory / f"big-{size // MiB}MiB.mp4"
    if path.exists() and path.stat().st_size >= size:
        return path
    partial = path.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-stream_loop", str(loops - 1), "-i", str(clip), "-c", "copy", str(partial)],
        check=True,
    )  # fmt: skip
    partial.rename(path)
    return path


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (ffmpeg, ffprobe)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found.append(int(child))
            found.extend(children(int(child)))
    return found


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass
class Watch:
    """Samples the RSS of some processes and their children until stopped."""

    processes: dict[str, int]
    peaks: dict[str, int] = field(default_factory=dict)
    child_peaks: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        for pid in self.processes.values():
            reset_peak(pid)
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.processes.items():
                for child in children(pid):
                    try:
                        rss = status_bytes(child, "VmRSS")
                    except (OSError, AssertionError):
                        continue
                    label = command_name(child)
                    self.child_peaks[label] = max(self.child_peaks.get(label, 0), rss)
                self.peaks[name] = max(self.peaks.get(name, 0), status_bytes(pid, "VmHWM"))
            time.sleep(0.1)

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join()
        for name, pid in self.processes.items():
            self.peaks[name] = max(self.peaks.get(name, 0), status_bytes(pid, "VmHWM"))


async def upload(http: aiohttp.ClientSession, url: str, path: Path) -> dict[str, Any]:
    size = (await asyncio.to_thread(path.stat)).st_size

    async def chunks() -> Any:
        source = await asyncio.to_thread(path.open, "rb")
        try:
            while block := await asyncio.to_thread(source.read, MiB):
                yield block
        finally:
            source.close()

    async with http.post(
        f"{url}/v1/videos?filename={path.name}", data=chunks(),
        headers={"Content-Length": str(size)}, timeout=aiohttp.ClientTimeout(total=None),
    ) as response:  # fmt: skip
        body: dict[str, Any] = await response.json()
        if response.status != 201:
            raise SystemExit(f"upload refused: {response.status} {body}")
        return body


async def until_playable(http: aiohttp.ClientSession, status_url: str, limit: float) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        async with http.get(status_url) as response:
            video = await response.json()
        if video["status"] == "failed" or video.get("playable"):
            return f"{video['status']}{' (playable)' if video.get('playable') else ''}"
        await asyncio.sleep(0.2)
    return "not playable in time"


def start(mode: str, root: Path) -> tuple[str, dict[str, VodstackProcess]]:
    data = str(root / "data")
    if mode == "serve":
        serve = VodstackProcess(
            ["serve", "--data-dir", data, "--port", "0"], log_path=root / "serve.log", env=QUIET
        )
        return serve.url, {"serve": serve}
    ingest = VodstackProcess(
        ["ingest", "--data-dir", data, "--port", "0"], log_path=root / "ingest.log", env=QUIET
    )
    worker = VodstackProcess(
        ["worker", "--data-dir", data, "--port", "0"], log_path=root / "worker.log", env=QUIET
    )
    edge = VodstackProcess(
        ["edge", "--upstream", ingest.url, "--port", "0"], log_path=root / "edge.log", env=QUIET
    )
    return edge.url, {"edge": edge, "ingest": ingest, "worker": worker}


async def measure(mode: str, video: Path, root: Path) -> dict[str, Any]:
    url, processes = start(mode, root)
    pids = {name: proc.proc.pid for name, proc in processes.items()}
    result: dict[str, Any] = {"mode": mode}
    try:
        async with aiohttp.ClientSession() as http:
            watch = Watch(pids)
            thread = watch.start()
            started = time.perf_counter()
            created = await upload(http, url, video)
            elapsed = time.perf_counter() - started
            watch.stop(thread)
            result["upload_seconds"] = round(elapsed, 2)
            result["upload"] = {name: peak / MiB for name, peak in watch.peaks.items()}

            watch = Watch(pids)
            thread = watch.start()
            result["transcode_state"] = await until_playable(http, created["status_url"], 300)
            watch.stop(thread)
            result["transcode_start"] = {name: peak / MiB for name, peak in watch.peaks.items()}
            result["children"] = {name: peak / MiB for name, peak in watch.child_peaks.items()}
            async with http.delete(created["status_url"]) as response:
                result["deleted"] = response.status
    finally:
        for proc in reversed(list(processes.values())):
            proc.stop()
    return result


def report(result: dict[str, Any], size: int) -> None:
    rate = size / MiB / result["upload_seconds"]
    print(f"\n{result['mode']}: {size / MiB:.0f} MiB uploaded in {result['upload_seconds']}s "
          f"({rate:.0f} MiB/s); after the upload: {result['transcode_state']}")  # fmt: skip
    for phase in ("upload", "transcode_start"):
        shown = ", ".join(
            f"{name} {peak:.0f} MiB{' (over 200 MiB!)' if peak * MiB > LIMIT else ''}"
            for name, peak in result[phase].items()
        )
        print(f"  peak RSS during the {phase.replace('_', ' ')}: {shown}")
    if result["children"]:
        shown = ", ".join(f"{name} {peak:.0f} MiB" for name, peak in result["children"].items())
        print(f"  children (not vodstack processes): {shown}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--mode", choices=("serve", "split", "both"), default="both")
    args = parser.parse_args()
    video = await asyncio.to_thread(big_video, args.size_mib * MiB)
    size = video.stat().st_size
    info = machine_info()
    print(f"{video.name}: {size / MiB:.0f} MiB; {describe_machine(info)}", flush=True)
    results = []
    for mode in ("serve", "split") if args.mode == "both" else (args.mode,):
        with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
            result = await measure(mode, video, Path(tmp))
        report(result, size)
        results.append(result)
    path = write_results("upload_memory", {"machine": info, "size": size, "results": results})
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
