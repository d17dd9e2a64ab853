"""`vodstack loadtest URL...`: simulated HLS players against an origin or an edge."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import sys

from vodstack.client import API_KEY_ENV, api_key
from vodstack.loadtest.bandwidth import DEFAULT_SPEC, BandwidthSpec
from vodstack.loadtest.clock import Deadline
from vodstack.loadtest.config import (
    DEFAULT_BUFFER_TARGET,
    DEFAULT_REQUEST_TIMEOUT,
    MAX_PLAYERS,
    ConfigError,
    LoadTestConfig,
)
from vodstack.loadtest.records import Recorder
from vodstack.loadtest.report import format_report
from vodstack.loadtest.runner import run_loadtest
from vodstack.loadtest.targets import TargetError
from vodstack.server import fail, install_event_loop_policy

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "loadtest",
        help="simulate HLS players against an origin or an edge and report what they saw",
        description="Each player fetches a master playlist, picks a rendition for its "
        "bandwidth, then the media playlist, init segment and segments at playback pace "
        "(buffering ahead, switching rendition on measured throughput like hls.js). "
        "Reports requests/s, MB/s, latency percentiles by object type, errors, cache hit "
        "ratio (X-Cache), startup times, stalls and rendition switches.",
    )
    parser.add_argument(
        "urls", nargs="+", metavar="URL",
        help="master playlist URL(s) (…/master.m3u8), or the base URL of a vodstack server "
        "or edge, whose ready videos (GET /v1/videos) are played through that same URL",
    )  # fmt: skip
    parser.add_argument("--players", type=int, default=10, help="simulated players (default 10)")
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds to play (default 30)"
    )
    parser.add_argument(
        "--bandwidth", default=DEFAULT_SPEC,
        help="each player's bandwidth: 8M (all the same), 2M-20M (drawn log-uniformly) or "
        f"unlimited (default {DEFAULT_SPEC})",
    )  # fmt: skip
    parser.add_argument(
        "--speed", type=float, default=1.0,
        help="play F times faster than real time (bandwidth scaled too): F times the load "
        "per player (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--no-pace", dest="pace", action="store_false",
        help="fetch segments back to back, as fast as possible, with no bandwidth limit "
        "(stalls are then not measured)",
    )  # fmt: skip
    parser.add_argument(
        "--buffer", type=float, default=DEFAULT_BUFFER_TARGET,
        help=f"seconds of media a player buffers ahead (default {DEFAULT_BUFFER_TARGET:g})",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT,
        help="longest wait for an answer, or for more of its body, in seconds "
        f"(default {DEFAULT_REQUEST_TIMEOUT:g})",
    )  # fmt: skip
    parser.add_argument(
        "--ramp", type=float, default=0.0,
        help="seconds over which players start, evenly spread (default 0: all at once)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="random seed (bandwidths, video choice)")
    parser.add_argument(
        "--max-videos", type=int, default=100,
        help="most ready videos taken from a server's listing (default 100)",
    )  # fmt: skip
    parser.add_argument(
        "--api-key",
        help=f"API key for listing a server's videos, when it requires one [{API_KEY_ENV}]",
    )
    parser.add_argument(
        "--force", action="store_true",
        help=f"allow more than {MAX_PLAYERS} players or a duration over an hour",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--fail-on-errors", action="store_true",
        help="exit with status 1 when any request failed or any player stalled",
    )  # fmt: skip
    parser.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> LoadTestConfig:
    try:
        bandwidth = BandwidthSpec.parse(args.bandwidth)
    except ValueError as exc:
        raise ConfigError(f"--bandwidth: {exc}") from None
    return LoadTestConfig(
        targets=tuple(args.urls),
        players=args.players,
        duration=args.duration,
        speed=args.speed,
        pace=args.pace,
        bandwidth=bandwidth,
        buffer_target=args.buffer,
        request_timeout=args.timeout,
        ramp=args.ramp,
        seed=args.seed,
        max_videos=args.max_videos,
        force=args.force,
        api_key=api_key(args.api_key),
    ).validate()


def raise_open_files_limit(players: int) -> None:
    """Each player holds a connection: lift the soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = players + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _progress(elapsed: float, recorder: Recorder) -> None:
    requests = sum(stats.requests for stats in recorder.kinds.values())
    errors = sum(stats.errors for stats in recorder.kinds.values())
    print(f"  {elapsed:5.0f} s: {requests:,} requests, {errors:,} errors", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    raise_open_files_limit(config.players)
    install_event_loop_policy()
    interrupted = False

    async def run() -> dict[str, object]:
        nonlocal interrupted
        deadline = Deadline(Deadline.now() + config.duration + 3600)

        def stop() -> None:
            nonlocal interrupted
            interrupted = True
            deadline.stop()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop)
        loop.add_signal_handler(signal.SIGTERM, stop)
        try:
            return await run_loadtest(
                config, deadline=deadline, on_progress=_progress if sys.stderr.isatty() else None
            )
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        report = asyncio.run(run())
    except TargetError as exc:
        return fail(str(exc), EXIT_ERRORS)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    if interrupted:
        print("vodstack: interrupted; the report covers the time until then", file=sys.stderr)
        return EXIT_INTERRUPTED
    playback = report["playback"]
    stalled = bool(playback["stalls"]) if isinstance(playback, dict) else False
    if args.fail_on_errors and (report["errors"] or stalled):
        return EXIT_ERRORS
    return EXIT_OK
