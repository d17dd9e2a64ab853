"""How soon an upload can be watched, and whether a player that starts then plays it through.

    python bench/time_to_playable.py [--runs 3] [--duration 60] [--size 1920x1080]
                                     [--preset veryfast] [--clip FILE] [--browser]

Starts `vodstack serve` (edge in front, worker in the same process, as users run it) and
alternates, `--runs` times:
- bare: the worker's own ffmpeg command for the clip (same ladder, options and niceness),
  timed to the first complete segment of every rendition and to its exit;
- upload: the clip POSTed through the edge; from the moment the upload is answered, the
  status API is polled every 50 ms until `playable` (then `ready`). As soon as it is
  playable a player starts on the playback URL: ffmpeg's HLS demuxer (it reloads a growing
  playlist until its end tag; `-prefer_x_start` honours `EXT-X-START`), or with
  `--browser` the watch page's hls.js in headless Chromium, which plays in real time and
  counts stalls (the video running out of data after it started).
Prints each run and the medians; writes bench/results/time_to_playable-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

POLL = 0.05


@dataclass
class StackRun:
    upload: float = 0.0
    playable: float | None = None
    """Upload answered → status API says playable."""
    ready: float | None = None
    status_when_playable: str = ""
    growing_at_start: bool = False
    """The media playlist fetched when it became playable had no end tag yet."""
    player: dict[str, Any] = field(default_factory=dict)


async def upload(http: aiohttp.ClientSession, url: str, clip: Path) -> dict[str, Any]:
    async def chunks() -> Any:
        source = await asyncio.to_thread(clip.open, "rb")
        try:
            while block := await asyncio.to_thread(source.read, 1024 * 1024):
                yield block
        finally:
            source.close()

    size = (await asyncio.to_thread(clip.stat)).st_size
    async with http.post(
        f"{url}/v1/videos?filename={clip.name}",
        data=chunks(),
        headers={"Content-Length": str(size)},
    ) as response:
        body: dict[str, Any] = await response.json()
        if response.status != 201:
            raise SystemExit(f"upload refused: {response.status} {body}")
        return body


async def ffmpeg_player(master_url: str) -> dict[str, Any]:
    """Read the growing video to its end as a player would (no decode): exit status, error
    lines, and how many seconds of media it got."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-prefer_x_start", "1",
        "-i", master_url, "-c", "copy", "-f", "null", "-progress", "pipe:1", "-",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await proc.communicate()
    seconds = 0.0
    for line in stdout.decode(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            seconds = max(seconds, int(value) / 1e6)
    errors = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return {"kind": "ffmpeg", "exit": proc.returncode, "errors": errors[-5:],
            "media_seconds": round(seconds, 2)}  # fmt: skip


def browser_player(watch_url: str, duration: float) -> dict[str, Any]:
    """The watch page in headless Chromium, from now until the video ended."""
    from tests.support.browser import chromium

    with chromium() as browser:
        page = browser.new_page()
        page.goto(watch_url)
        deadline = time.monotonic() + duration * 3 + 60
        state: dict[str, Any] = {}
        playing = False
        while time.monotonic() < deadline:
            state = page.evaluate(
                """() => ({ state: window.playerState,
                            levels: window.player ? window.player.levels.length : 0,
                            ended: document.getElementById("video").ended,
                            time: document.getElementById("video").currentTime })"""
            )
            if state["ended"] or state["state"]["fatalErrors"]:
                break
            if not playing and state["levels"]:
                page.evaluate('() => document.getElementById("video").play()')
                playing = True
            time.sleep(0.2)
    player = state.get("state") or {}
    return {
        "kind": "hls.js", "ended": state.get("ended"), "position": state.get("time"),
        "started_as": player.get("startedAs"), "stalls": player.get("stalls"),
        "fatal_errors": player.get("fatalErrors"),
    }  # fmt: skip


async def stack_run(url: str, clip: Path, duration: float, browser: bool) -> StackRun:
    run = StackRun()
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        created = await upload(http, url, clip)
        done = time.perf_counter()
        run.upload = done - started
        status_url = created["status_url"]
        player: asyncio.Task[dict[str, Any]] | None = None
        while run.ready is None:
            async with http.get(status_url) as response:
                video = await response.json()
            now = time.perf_counter() - done
            if video["status"] == "failed":
                raise SystemExit(f"the video failed: {video.get('error')}")
            if video.get("playable") and run.playable is None:
                run.playable = now
                run.status_when_playable = video["status"]
                async with http.get(video["playback_url"]) as response:
                    master = await response.text()
                first = next(line for line in master.splitlines() if line and line[0] != "#")
                media_url = video["playback_url"].rsplit("/", 1)[0] + "/" + first
                async with http.get(media_url) as response:
                    run.growing_at_start = "#EXT-X-ENDLIST" not in await response.text()
                if browser:
                    watch = f"{url}/watch/{video['id']}"
                    player = asyncio.ensure_future(
                        asyncio.to_thread(browser_player, watch, duration)
                    )
                else:
                    player = asyncio.ensure_future(ffmpeg_player(video["playback_url"]))
            if video["status"] == "ready":
                run.ready = now
                break
            await asyncio.sleep(POLL)
        if player is not None:
            run.player = await player
    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--clip", type=Path, help="source video (default: a generated one)")
    parser.add_argument("--browser", action="store_true", help="play with hls.js in Chromium")
    args = parser.parse_args()

    clip = args.clip or bench_clip(args.duration, *parse_size(args.size))
    info = machine_info()
    print(f"clip {clip.name}; {describe_machine(info)}", flush=True)
    bare_runs = []
    stack_runs: list[StackRun] = []
    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        env = {"VODSTACK_X264_PRESET": args.preset}
        serve = start_serve(root / "data", log_dir=root, env=env)
        settings = Settings(data_dir=root / "bare", x264_preset=args.preset).validate()
        try:
            for number in range(args.runs):
                bare = await bare_ffmpeg(clip, settings, root / f"bare-{number}")
                run = await stack_run(serve.url, clip, args.duration, args.browser)
                bare_runs.append(bare)
                stack_runs.append(run)
                print(
                    f"run {number + 1}: bare ffmpeg first segments {show(bare.first_segment)}, "
                    f"all {bare.seconds:.2f}s | upload {run.upload:.2f}s, then playable "
                    f"{show(run.playable)} ({run.status_when_playable}, growing "
                    f"{run.growing_at_start}), ready {show(run.ready)}; player "
                    f"{json.dumps(run.player)}",
                    flush=True,
                )
        finally:
            serve.stop()
    summary = {
        "bare_first_segments": median([b.first_segment for b in bare_runs]),
        "bare_total": median([b.seconds for b in bare_runs]),
        "playable": median([r.playable for r in stack_runs]),
        "ready": median([r.ready for r in stack_runs]),
    }
    ratio = (
        summary["ready"] / summary["bare_total"]
        if summary["ready"] and summary["bare_total"] else None
    )
    print(
        f"\nmedian of {args.runs}: playable {show(summary['playable'])} after the upload "
        f"(bare ffmpeg's first segments: {show(summary['bare_first_segments'])}); ready "
        f"{show(summary['ready'])} (bare ffmpeg: {show(summary['bare_total'])}, ratio "
        f"{ratio:.3f})" if ratio else ""
    )
    path = write_results("time_to_playable", {
        "machine": info, "clip": clip.name, "preset": args.preset, "summary": summary,
        "ready_over_bare": ratio,
        "bare": [{"first_segments": b.first_segment, "total": b.seconds} for b in bare_runs],
        "stack": [run.__dict__ for run in stack_runs],
        "load_after": machine_info()["load_average"],
    })  # fmt: skip
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
