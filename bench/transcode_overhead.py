"""What vodstack adds to ffmpeg: upload-to-ready of a clip vs the bare ffmpeg command.

    python bench/transcode_overhead.py [--runs 3] [--duration 60] [--size 1920x1080]
                                       [--preset veryfast] [--clip FILE]

Starts `vodstack serve` (edge, upload API, worker and origin in one process, local store,
SQLite queue and catalogue: the embedded default) and alternates, `--runs` times:
- bare: the exact ffmpeg command the worker builds for the clip (same ladder, options and
  niceness), run with subprocess into a scratch directory;
- job: the clip uploaded through the edge; timed from the moment the upload is answered
  until the catalogue says `ready` (read from the SQLite file every 20 ms by this process,
  so polling costs the server nothing). That includes the queue, the lease, the probe,
  ffmpeg, publishing and the catalogue writes.
Prints each run, the medians and their ratio, and where the job's time outside ffmpeg
went (from the worker's JSON log: queue = upload answered → job started; then probe,
the encode, the publishing left after ffmpeg exits). Writes
bench/results/transcode_overhead-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.results import describe_machine, machine_info, write_results
from bench.lib.services import start_serve
from bench.lib.transcode import bare_ffmpeg, bench_clip, median, parse_size, show
from vodstack.settings import Settings

CATALOGUE_POLL = 0.02
LOG_WAIT = 5.0
"""Longest wait for the worker's `succeeded` log line once the catalogue says ready."""


@dataclass
class JobRun:
    seconds: float
    """Upload answered → `ready` in the catalogue."""
    playable: float | None
    """Upload answered → `playable_at`."""
    queue: float | None
    """Upload answered → the worker's `started` log line."""
    timings: dict[str, float] = field(default_factory=dict)
    """The worker's own phase timings (fetch, probe, encode, playable, publish)."""


async def upload(url: str, clip: Path) -> tuple[str, float]:
    """POST the clip through the edge; (video id, wall-clock time the answer came)."""
    size = (await asyncio.to_thread(clip.stat)).st_size

    async def chunks() -> Any:
        source = await asyncio.to_thread(clip.open, "rb")
        try:
            while block := await asyncio.to_thread(source.read, 1024 * 1024):
                yield block
        finally:
            source.close()

    async with aiohttp.ClientSession() as http, http.post(
        f"{url}/v1/videos?filename={clip.name}", data=chunks(),
        headers={"Content-Length": str(size)},
    ) as response:  # fmt: skip
        body = await response.json()
        if response.status != 201:
            raise SystemExit(f"upload refused: {response.status} {body}")
        return str(body["id"]), time.time()


def wait_ready(database: Path, video_id: str, limit: float = 3600) -> dict[str, Any]:
    """Poll the catalogue row until the video is ready; the record, with `seen_at`."""
    db = sqlite3.connect(database, timeout=10)
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            row = db.execute("SELECT data FROM videos WHERE id = ?", (video_id,)).fetchone()
            if row is not None:
                record: dict[str, Any] = json.loads(row[0])
                if record["status"] == "failed":
                    raise SystemExit(f"the job failed: {record.get('error')}")
                if record["status"] == "ready":
                    record["seen_at"] = time.time()
                    return record
            time.sleep(CATALOGUE_POLL)
    finally:
        db.close()
    raise SystemExit("the job did not finish")


def log_events(log: Path, video_id: str) -> dict[str, dict[str, Any]]:
    """The worker's JSON log lines about this video, by event (started, playable, ...)."""
    events: dict[str, dict[str, Any]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if video_id not in line or not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("video_id") == video_id and entry.get("event"):
            events.setdefault(entry["event"], entry)
    return events


def log_time(entry: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


async def job_run(url: str, database: Path, log: Path, clip: Path) -> JobRun:
    video_id, answered = await upload(url, clip)
    record = await asyncio.to_thread(wait_ready, database, video_id)
    # The worker logs `succeeded` just after it records `ready`: give it a moment.
    deadline = time.monotonic() + LOG_WAIT
    events = log_events(log, video_id)
    while "succeeded" not in events and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        events = log_events(log, video_id)
    started = events.get("started")
    succeeded = events.get("succeeded") or {}
    playable_at = record.get("playable_at")
    return JobRun(
        seconds=record["ready_at"] - answered,
        playable=playable_at - answered if playable_at else None,
        queue=log_time(started) - answered if started else None,
        timings=dict(succeeded.get("timings") or {}),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--clip", type=Path, help="source video (default: a generated one)")
    args = parser.parse_args()

    clip = args.clip or bench_clip(args.duration, *parse_size(args.size))
    info = machine_info()
    print(f"clip {clip.name}, preset {args.preset}; {describe_machine(info)}", flush=True)
    bare_times: list[float] = []
    jobs: list[JobRun] = []
    command: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        env = {"VODSTACK_X264_PRESET": args.preset, "VODSTACK_LOG_FORMAT": "json",
               "VODSTACK_LOG_LEVEL": "info"}  # fmt: skip
        serve = start_serve(root / "data", log_dir=root, env=env)
        settings = Settings(data_dir=root / "bare", x264_preset=args.preset).validate()
        try:
            for number in range(args.runs):
                bare = await bare_ffmpeg(clip, settings, root / f"bare-{number}")
                command = bare.command
                job = await job_run(serve.url, root / "data" / "vodstack.db",
                                    root / "serve.log", clip)  # fmt: skip
                bare_times.append(bare.seconds)
                jobs.append(job)
                phases = " ".join(f"{k} {v:.2f}s" for k, v in job.timings.items())
                print(
                    f"run {number + 1}: bare ffmpeg {bare.seconds:.2f}s, upload-to-ready "
                    f"{job.seconds:.2f}s (ratio {job.seconds / bare.seconds:.3f}; queue "
                    f"{show(job.queue)}, {phases}; playable after {show(job.playable)})",
                    flush=True,
                )
        finally:
            serve.stop()
    bare_median = statistics.median(bare_times)
    job_median = statistics.median(job.seconds for job in jobs)
    outside = [job.seconds - job.timings["encode"] for job in jobs if "encode" in job.timings]
    parts = {
        name: median([job.timings.get(name) for job in jobs])
        for name in ("fetch", "probe", "publish")
    }
    parts["queue"] = median([job.queue for job in jobs])
    print(f"\nffmpeg command (run {args.runs}):\n  {shlex.join(command)}")
    print(
        f"\nmedian of {args.runs}: bare ffmpeg {bare_median:.2f}s, upload-to-ready "
        f"{job_median:.2f}s, ratio {job_median / bare_median:.3f} "
        f"({(job_median / bare_median - 1) * 100:+.1f}%)"
    )
    print(
        "outside ffmpeg (upload-to-ready minus the encode): median "
        f"{show(statistics.median(outside) if outside else None)}; parts: "
        + ", ".join(f"{name} {show(value)}" for name, value in parts.items())
        + f"; playable after {show(median([job.playable for job in jobs]))}"
    )
    after = machine_info()["load_average"]
    print(f"load average before {info['load_average']}, after {after}")
    path = write_results("transcode_overhead", {
        "machine": info, "load_after": after, "clip": clip.name, "preset": args.preset,
        "bare": bare_times, "jobs": [job.__dict__ for job in jobs],
        "median": {"bare": bare_median, "job": job_median, "ratio": job_median / bare_median,
                   "outside_ffmpeg": statistics.median(outside) if outside else None, **parts},
        "command": command,
    })  # fmt: skip
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
