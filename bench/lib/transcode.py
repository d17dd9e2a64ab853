"""What the transcoding benchmarks share: generated clips, the worker's own ffmpeg command
for a clip, run bare, and timing when its first segment appears."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.lib.results import RESULTS_DIR
from transcoder.ffmpeg_args import EncodeOptions, OutputLayout, transcode_args
from transcoder.ladder import ladder_for
from transcoder.probe import probe
from vodstack.settings import Settings

CLIP_DIR = RESULTS_DIR / "clips"
"""Generated clips are kept here (git-ignored) and reused by later runs."""


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def bench_clip(duration: float, width: int, height: int, *, directory: Path = CLIP_DIR) -> Path:
    """A `duration` s WxH 30 fps H.264 + stereo AAC clip (testsrc2 + a tone), made once."""
    directory.mkdir(parents=True, exist_ok=True)
    clip = directory / f"clip-{width}x{height}-30fps-{duration:g}s-av.mp4"
    if clip.exists():
        return clip
    partial = clip.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={duration}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-ac", "2", "-b:a", "128k", "-movflags", "+faststart", str(partial)],
        check=True,
    )  # fmt: skip
    partial.rename(clip)
    return clip


@dataclass(frozen=True)
class BareRun:
    seconds: float
    """ffmpeg start to exit."""
    first_segment: float | None
    """ffmpeg start to the first complete segment of every rendition (None: not seen)."""
    command: list[str]


async def worker_command(clip: Path, settings: Settings, scratch: Path) -> tuple[list[str], Path]:
    """The exact ffmpeg command a worker runs for `clip`, writing under `scratch`; and the
    directory of the lowest rendition."""
    info = await probe(clip)
    rungs = ladder_for(info, top_rung=settings.top_rung)
    options = EncodeOptions.from_settings(settings)
    layout = OutputLayout(scratch, options.segment_extension)
    for rung in rungs:
        layout.rendition_dir(rung.name).mkdir(parents=True, exist_ok=True)
    return transcode_args(clip, info, rungs, layout, options), layout.root


def _first_segments_present(root: Path) -> bool:
    directories = [entry for entry in root.iterdir() if entry.is_dir()]
    return bool(directories) and all(
        (directory / "index.m3u8").exists() for directory in directories
    )


def _niced(nice: int) -> None:
    if nice > 0:
        os.nice(nice)


def run_bare(command: list[str], root: Path, *, nice: int) -> BareRun:
    """Run the command as the worker would (same niceness), watching for the first segment
    of every rendition (ffmpeg writes each playlist once its first segment is complete)."""
    started = time.perf_counter()
    first: float | None = None
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: _niced(nice),
    ) as proc:  # fmt: skip
        while proc.poll() is None:
            if first is None and _first_segments_present(root):
                first = time.perf_counter() - started
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"bare ffmpeg failed with status {proc.returncode}")
    return BareRun(elapsed, first, command)


async def bare_ffmpeg(clip: Path, settings: Settings, scratch: Path) -> BareRun:
    command, root = await worker_command(clip, settings, scratch)
    return await asyncio.to_thread(run_bare, command, root, nice=settings.ffmpeg_nice)


def median(values: list[float | None]) -> float | None:
    """The median of the values measured (None: not measured in that run)."""
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def show(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"
