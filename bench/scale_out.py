"""Time to ready of one long video with 1, 2, 4 worker processes sharing its chunks.

    python bench/scale_out.py [--seconds 120] [--height 720] [--chunk 20]
                              [--workers 1,2,4] [--threads 1,0] [--preset veryfast]

Makes (once, cached in --clip-dir) a `--seconds` long 16:9 clip with sound, then for each
ffmpeg thread count in `--threads` (1: one thread per ffmpeg, so each worker process uses
one core; 0: ffmpeg decides, i.e. all cores) runs:
- single: the video transcoded whole (chunking off) by one worker, for reference;
- chunked xN: chunking on (`--chunk` seconds), N `vodstack worker` processes.
Each run starts fresh worker processes on a local store + SQLite in a temp directory,
enqueues the video and times enqueue → `ready` in the catalogue. CPU-seconds are those of
the worker processes and their ffmpeg children during the run (from /proc, start-up
excluded). Speed-ups are against the chunked run with one worker; the ideal is
min(workers, cores, parts) with one thread per ffmpeg — what the machine can give at best.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.results import describe_machine, machine_info, write_results
from tests.support.processes import VodstackProcess
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video, VideoStatus
from vodstack.settings import Settings

TICKS = os.sysconf("SC_CLK_TCK")


def make_clip(directory: Path, seconds: int, height: int) -> Path:
    width = height * 16 // 9
    path = directory / f"scale-out-{width}x{height}-{seconds}s.mp4"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(path)
    return path


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of its children it has reaped (ffmpeg runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")": state is field 3; utime, stime, cutime, cstime are fields 14-17.
    return sum(int(value) for value in fields[11:15]) / TICKS


@dataclass
class Run:
    threads: int
    mode: str
    """"single" or "chunked"."""
    workers: int
    seconds: float
    """Enqueue to ready."""
    cpu_seconds: float
    parts: int

    @property
    def label(self) -> str:
        return "single job" if self.mode == "single" else f"chunked x{self.workers}"


async def time_to_ready(
    clip: Path, root: Path, *, workers: int, chunk: float, threads: int, preset: str
) -> tuple[float, float, int]:
    data = root / "data"
    env = {
        "VODSTACK_DATA_DIR": str(data),
        "VODSTACK_CHUNK_DURATION": f"{chunk:g}",
        "VODSTACK_FFMPEG_THREADS": str(threads),
        "VODSTACK_X264_PRESET": preset,
        "VODSTACK_LOG_LEVEL": "info",
        "VODSTACK_FFMPEG_NICE": "0",
    }
    settings = Settings(data_dir=data).validate()
    backends = Backends.from_settings(settings)
    await backends.start()
    procs: list[VodstackProcess] = []
    try:
        for number in range(workers):
            scratch = str(root / f"scratch-{number}")
            procs.append(
                VodstackProcess(
                    ["worker", "--port", "0", "--scratch-dir", scratch],
                    log_path=root / f"worker-{number}.log",
                    env=env,
                )
            )
        video_id = keys.new_video_id()
        source = keys.source_key(video_id)
        await backends.store.put_file(source, clip, content_type="video/mp4")
        await backends.catalog.create(Video(id=video_id))
        cpu_before = sum(cpu_seconds(proc.proc.pid) for proc in procs)
        started = time.perf_counter()
        await backends.queue.enqueue(
            video_id, {"video_id": video_id, "source_key": source}, max_attempts=1
        )
        while True:
            video = await backends.catalog.get(video_id)
            assert video is not None
            if video.status in {VideoStatus.READY, VideoStatus.FAILED}:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(proc.proc.pid) for proc in procs) - cpu_before
        if video.status is not VideoStatus.READY:
            raise SystemExit(f"the transcode failed: {video.error}")
        parts = sum(proc.log_text().count("job started") for proc in procs)
        return elapsed, cpu, parts
    finally:
        for proc in procs:
            proc.stop()
        await backends.close()


def print_table(runs: list[Run], cores: int) -> None:
    print(
        f"\n| ffmpeg threads | run | jobs | time to ready | CPU-seconds | CPU use | "
        f"speed-up vs chunked x1 | vs single job | ideal on {cores} cores |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        same = [r for r in runs if r.threads == run.threads]
        one = next((r for r in same if r.mode == "chunked" and r.workers == 1), None)
        single = next((r for r in same if r.mode == "single"), None)
        video_parts = max(1, run.parts - 3)  # minus the plan, the audio and the join
        ideal = min(run.workers, cores, video_parts) if run.threads == 1 else 1.0
        speed_one = f"{one.seconds / run.seconds:.2f}x" if one and run.mode == "chunked" else "-"
        speed_single = f"{single.seconds / run.seconds:.2f}x" if single else "-"
        threads = "ffmpeg decides" if run.threads == 0 else str(run.threads)
        print(
            f"| {threads} | {run.label} | {run.parts} | {run.seconds:.1f} s | "
            f"{run.cpu_seconds:.1f} | {run.cpu_seconds / run.seconds:.2f} cores | "
            f"{speed_one} | {speed_single} | "
            f"{f'{ideal:g}x' if run.mode == 'chunked' else '-'} |"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--chunk", type=float, default=20.0, help="chunk_duration, seconds")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    parser.add_argument("--threads", default="1,0", help="ffmpeg_threads values to try")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--no-single", action="store_true", help="skip the unchunked runs")
    parser.add_argument(
        "--clip-dir", type=Path, default=Path(tempfile.gettempdir()) / "vodstack-bench-clips"
    )
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    thread_counts = [int(n) for n in args.threads.split(",")]
    cores = os.cpu_count() or 1

    clip = make_clip(args.clip_dir, args.seconds, args.height)
    info = machine_info()
    print(f"{describe_machine(info)}\nclip: {clip.name}, chunks of {args.chunk:g} s, "
          f"preset {args.preset}", flush=True)  # fmt: skip
    runs: list[Run] = []
    for threads in thread_counts:
        plan: list[tuple[str, int]] = [] if args.no_single else [("single", 1)]
        plan += [("chunked", n) for n in worker_counts]
        for mode, workers in plan:
            chunk = args.chunk if mode == "chunked" else 0.0
            with tempfile.TemporaryDirectory(prefix="vodstack-scale-") as tmp:
                seconds, cpu, parts = await time_to_ready(
                    clip, Path(tmp), workers=workers, chunk=chunk, threads=threads,
                    preset=args.preset,
                )  # fmt: skip
            run = Run(threads, mode, workers, seconds, cpu, parts)
            runs.append(run)
            print(f"threads={threads} {run.label}: {seconds:.1f} s to ready, "
                  f"{cpu:.1f} CPU-s, {parts} jobs", flush=True)  # fmt: skip
    print_table(runs, cores)
    path = write_results(
        "scale_out",
        {
            "machine": info,
            "clip": clip.name,
            "chunk_duration": args.chunk,
            "preset": args.preset,
            "runs": [asdict(run) for run in runs],
        },
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    asyncio.run(main())
