"""What the worker adds to ffmpeg: one full job vs the bare ffmpeg command it runs.

    python bench/transcode_overhead.py [--runs 3] [--preset veryfast] [--clip FILE]

Makes (or takes) a 10 s 1280x720 30 fps H.264/AAC clip, then alternates, `--runs` times:
- bare: the exact ffmpeg command the worker builds for it (same ladder, same options),
  run with subprocess into a scratch directory;
- job: a Worker on a local store + SQLite queue/catalogue in a temp directory, timed from
  enqueue until the catalogue says `ready` (lease, probe, ffmpeg, measuring, publishing,
  catalogue updates).
Prints each run, the medians and the overhead. On a busy machine the ffmpeg times vary a
lot between runs; the time the job spends outside ffmpeg (from the worker's own phase
timings) is the steadier measure of what the worker adds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transcoder.ffmpeg_args import EncodeOptions, OutputLayout, transcode_args
from transcoder.ladder import ladder_for
from transcoder.probe import probe
from transcoder.worker import Worker
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video, VideoStatus
from vodstack.settings import Settings


def make_clip(directory: Path) -> Path:
    clip = directory / "clip-1280x720-30fps-10s.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=10",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
         "-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(clip)],
        check=True,
    )  # fmt: skip
    return clip


async def bare_ffmpeg(clip: Path, settings: Settings, scratch: Path) -> tuple[float, list[str]]:
    info = await probe(clip)
    rungs = ladder_for(info, top_rung=settings.top_rung)
    options = EncodeOptions.from_settings(settings)
    layout = OutputLayout(scratch, options.segment_extension)
    for rung in rungs:
        layout.rendition_dir(rung.name).mkdir(parents=True, exist_ok=True)
    command = transcode_args(clip, info, rungs, layout, options)
    started = time.perf_counter()
    await asyncio.to_thread(
        subprocess.run, command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started, command


class JobTimings(logging.Handler):
    """Keeps the per-phase timings the worker logs with each finished job."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.timings: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        timings = getattr(record, "timings", None)
        if isinstance(timings, dict):
            self.timings = timings


async def worker_job(clip: Path, settings: Settings) -> tuple[float, dict[str, float]]:
    capture = JobTimings()
    worker_log = logging.getLogger("transcoder.worker")
    worker_log.addHandler(capture)
    worker_log.setLevel(logging.INFO)
    try:
        return await _worker_job(clip, settings), capture.timings
    finally:
        worker_log.removeHandler(capture)


async def _worker_job(clip: Path, settings: Settings) -> float:
    backends = Backends.from_settings(settings)
    await backends.start()
    worker = Worker(settings, backends)
    await worker.start()
    try:
        video_id = keys.new_video_id()
        source = keys.source_key(video_id)
        await backends.store.put_file(source, clip, content_type="video/mp4")
        await backends.catalog.create(Video(id=video_id))
        started = time.perf_counter()
        await backends.queue.enqueue(
            video_id, {"video_id": video_id, "source_key": source}, max_attempts=1
        )
        while True:
            video = await backends.catalog.get(video_id)
            assert video is not None
            if video.status in {VideoStatus.READY, VideoStatus.FAILED}:
                break
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        if video.status is not VideoStatus.READY:
            raise SystemExit(f"the job failed: {video.error}")
        return elapsed
    finally:
        await worker.stop()
        await backends.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--clip", type=Path, help="source video (default: a generated one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        clip = args.clip or make_clip(root)
        bare_times: list[float] = []
        job_times: list[float] = []
        outside_ffmpeg: list[float] = []
        command: list[str] = []
        for run in range(args.runs):
            settings = Settings(data_dir=root / f"data-{run}", x264_preset=args.preset).validate()
            bare, command = await bare_ffmpeg(clip, settings, root / f"bare-{run}")
            job, phases = await worker_job(clip, settings)
            bare_times.append(bare)
            job_times.append(job)
            outside_ffmpeg.append(job - phases.get("encode", 0.0))
            shown = " ".join(f"{name} {value:.2f}s" for name, value in phases.items())
            print(
                f"run {run + 1}: bare ffmpeg {bare:.2f}s, worker job {job:.2f}s ({shown}; "
                f"outside ffmpeg {outside_ffmpeg[-1]:.2f}s)",
                flush=True,
            )
        bare_median = statistics.median(bare_times)
        job_median = statistics.median(job_times)
        print(f"\nffmpeg command (run {args.runs}):\n  {shlex.join(command)}")
        print(
            f"\nmedian of {args.runs}: bare ffmpeg {bare_median:.2f}s, worker job {job_median:.2f}s"
        )
        print(
            f"overhead: {job_median - bare_median:+.2f}s "
            f"({(job_median / bare_median - 1) * 100:+.1f}%); time the job spent outside "
            f"ffmpeg (enqueue to ready minus the encode): median "
            f"{statistics.median(outside_ffmpeg):.2f}s"
        )


if __name__ == "__main__":
    asyncio.run(main())
