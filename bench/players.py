"""Simulated HLS players (`vodstack loadtest`) against `vodstack serve`, alone and behind
`vodstack edge`.

    python bench/players.py [--players 50] [--seconds 20] [--speed 4] [--runs 2]

Makes a 12 s 1280x720 clip, uploads it to `vodstack serve` (ultrafast preset) and waits
until it is ready, starts `vodstack edge` in front, then runs the load test against the
origin directly and through the edge, alternating, `--runs` rounds (the edge's first
round starts with a cold cache). Prints one row per run: requests/s, MB/s, segment
latency, errors, cache hit ratio, start-up time and stalls; JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.results import describe_machine, machine_info, write_results
from bench.lib.services import Stoppable, start_edge, start_serve
from tests.support.clips import ClipSpec, generate_clip
from tests.support.hls import upload_file, wait_for_status
from vodstack.loadtest.bandwidth import BandwidthSpec
from vodstack.loadtest.config import LoadTestConfig
from vodstack.loadtest.runner import run_loadtest
from vodstack.server import install_event_loop_policy

HEADER = (
    "| target | run | req/s | MB/s | seg ttfb p50 ms | seg ttfb p99 ms | seg p99 ms | errors "
    "| hit ratio | startup p95 ms | stalls | switches up/down | client CPU |\n"
    + "|---" * 13 + "|"
)


def row(target: str, run: int, report: dict[str, Any]) -> str:
    segment = report["by_type"]["segment"]
    playback = report["playback"]
    ratio = report["cache"]["hit_ratio"]
    ttfb = segment["first_byte_ms"]
    return (
        f"| {target} | {run} | {report['requests_per_second']:,.1f} "
        f"| {report['megabytes_per_second']:,.2f} "
        f"| {ttfb['p50'] or 0:.1f} | {ttfb['p99'] or 0:.1f} "
        f"| {segment['latency_ms']['p99'] or 0:.0f} | {report['errors']} "
        f"| {'-' if ratio is None else f'{100 * ratio:.1f} %'} "
        f"| {playback['startup_ms']['p95'] or 0:.0f} | {playback['stalls']} "
        f"| {playback['switches_up']}/{playback['switches_down']} "
        f"| {report['client_cpu_percent']:.0f} % |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--speed", type=float, default=4.0)
    parser.add_argument("--bandwidth", default="2M-20M")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    machine = machine_info()
    print(describe_machine(machine), flush=True)
    reports: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vodstack-bench-") as tmp:
        root = Path(tmp)
        clip = generate_clip(ClipSpec(duration=12, width=1280, height=720), root)
        started: list[Stoppable] = []
        try:
            serve = start_serve(root / "data", log_dir=root,
                                env={"VODSTACK_X264_PRESET": "ultrafast"})  # fmt: skip
            started.append(serve)
            status, body, _ = upload_file(serve.url, clip)
            if status != 201:
                raise SystemExit(f"upload failed: {status} {body}")
            video = wait_for_status(body["status_url"], {"ready", "failed"})
            if video["status"] != "ready":
                raise SystemExit(f"transcoding failed: {video.get('error')}")
            edge = start_edge(serve.url, log_dir=root)
            started.append(edge)
            master_path = f"/v/{video['id']}/master.m3u8"
            print(
                f"{args.players} players, {args.seconds:g} s at {args.speed:g}x, bandwidth "
                f"{args.bandwidth}; video {video['duration']:.0f} s in "
                f"{len(video['renditions'])} renditions",
                flush=True,
            )
            install_event_loop_policy()
            print()
            print(HEADER)
            for run in range(1, args.runs + 1):
                for target, base in (("serve (origin)", serve.url), ("edge", edge.url)):
                    config = LoadTestConfig(
                        targets=(base + master_path,), players=args.players,
                        duration=args.seconds, speed=args.speed,
                        bandwidth=BandwidthSpec.parse(args.bandwidth), seed=run,
                    ).validate()  # fmt: skip
                    report = asyncio.run(run_loadtest(config))
                    report["target"] = target
                    report["run"] = run
                    reports.append(report)
                    print(row(target, run, report), flush=True)
        finally:
            for service in reversed(started):
                service.stop()
    machine["load_average_after"] = machine_info()["load_average"]
    print(f"\nload average before {machine['load_average']}, after {machine['load_average_after']}")
    path = write_results("players", {"machine": machine, "settings": vars(args),
                                     "reports": reports})  # fmt: skip
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
