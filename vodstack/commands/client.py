"""`vodstack upload | status | ls | rm`: the upload API from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from vodstack.client import (
    API_KEY_ENV,
    DEFAULT_SERVER,
    SERVER_ENV,
    ClientError,
    VodstackClient,
    api_key,
    server_url,
)
from vodstack.humanize import format_megabytes
from vodstack.progress import ProgressLine, transcode_line, upload_line
from vodstack.server import install_event_loop_policy
from vodstack.settings import parse_size
from vodstack.tus_client import CHUNK_SIZE, ResumeState, TusUpload, cache_dir

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
POLL_INTERVAL = 1.0
MAX_POLL_FAILURES = 5
STATUSES = ("queued", "processing", "ready", "failed")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    upload = subparsers.add_parser(
        "upload",
        help="upload a video and follow it until it can be played",
        description="Send FILE to the upload API with resumable uploads (tus): if the "
        "upload is interrupted, run the same command again and it continues where it "
        "stopped. Then follow the transcoding until the video is ready (prints the playback "
        "URL) or failed (prints why; exit status 1).",
    )
    upload.add_argument("file", type=Path, metavar="FILE", help="the video file")
    upload.add_argument("--title", help="title shown in the library (default: the file name)")
    upload.add_argument("--no-wait", action="store_true", help="return once the file is uploaded")
    upload.add_argument(
        "--interval", type=_positive_seconds, default=POLL_INTERVAL,
        help=f"seconds between status checks (default {POLL_INTERVAL:g})",
    )
    upload.add_argument("--json", action="store_true", help="print the final answer as JSON")
    upload.add_argument(
        "--chunk-size", type=_chunk_size, default=CHUNK_SIZE,
        help="bytes per upload request (default 8MiB; lower it behind a proxy that limits "
        "request bodies)",
    )
    _add_server(upload)
    upload.set_defaults(func=lambda args: _run(upload_command(args)))

    status = subparsers.add_parser("status", help="show one video's status")
    status.add_argument("video_id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the answer as JSON")
    _add_server(status)
    status.set_defaults(func=lambda args: _run(status_command(args)))

    listing = subparsers.add_parser("ls", help="list videos, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only videos in this state")
    listing.add_argument("--limit", type=int, default=20, help="how many (1-100, default 20)")
    listing.add_argument("--cursor", help="next page (as printed under the table)")
    listing.add_argument("--json", action="store_true", help="print the answer as JSON")
    _add_server(listing)
    listing.set_defaults(func=lambda args: _run(ls_command(args)))

    remove = subparsers.add_parser("rm", help="delete a video and everything made from it")
    remove.add_argument("video_id", metavar="ID")
    _add_server(remove)
    remove.set_defaults(func=lambda args: _run(rm_command(args)))

    retry = subparsers.add_parser(
        "retry",
        help="queue a failed video again",
        description="Queue a failed video for transcoding again, with fresh attempts "
        "(for instance after fixing what made it fail). Only failed videos can be retried.",
    )
    retry.add_argument("video_id", metavar="ID")
    _add_server(retry)
    retry.set_defaults(func=lambda args: _run(retry_command(args)))


def _chunk_size(text: str) -> int:
    try:
        value = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 64 * 1024 <= value <= 1024**3:
        raise argparse.ArgumentTypeError(f"must be from 64KiB to 1GiB, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def _add_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        help=f"vodstack base URL [{SERVER_ENV}; default: {DEFAULT_SERVER}]",
    )
    parser.add_argument(
        "--api-key",
        help=f"API key, when the server requires one [{API_KEY_ENV}]",
    )


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run one command; a ClientError is one line on stderr and exit status 1."""

    async def guarded() -> int:
        try:
            return await main
        except ClientError as exc:
            print(f"vodstack: {exc}", file=sys.stderr)
            return EXIT_FAILED

    install_event_loop_policy()
    try:
        return asyncio.run(guarded())
    except KeyboardInterrupt:
        print("vodstack: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _client(args: argparse.Namespace) -> VodstackClient:
    return VodstackClient(server_url(args.server), api_key(args.api_key))


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


# -- upload ------------------------------------------------------------------------------


async def upload_command(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not await asyncio.to_thread(path.is_file):
        raise ClientError(f"{path} is not a file")
    size = (await asyncio.to_thread(path.stat)).st_size
    progress = ProgressLine(sys.stderr, tty=sys.stderr.isatty())
    started = time.monotonic()

    def on_progress(sent: int) -> None:
        line = upload_line(sent, size, time.monotonic() - started, with_bar=progress.tty)
        progress.show("uploading: " + line, 100 * sent / size if size else 100, force=sent == size)

    async with _client(args) as client:
        print(
            f"uploading {path.name} ({format_megabytes(size)}) to {client.server}", file=sys.stderr
        )
        upload = TusUpload(
            client,
            ResumeState(cache_dir() / "uploads.json"),
            chunk_size=args.chunk_size,
            on_progress=on_progress,
            on_notice=lambda text: print(text, file=sys.stderr, flush=True),
        )
        try:
            uploaded = await upload.upload(path, title=args.title)
        finally:
            progress.end()
        video_id = uploaded.video_id
        print(f"uploaded: {video_id}", file=sys.stderr)
        created = await client.video(video_id)
        if args.no_wait:
            if args.json:
                _print_json(created)
            else:
                print(f"id: {video_id}")
                print(f"status: {created.get('status_url')}")
            return EXIT_OK
        video = await wait_for_video(client, video_id, args.interval)
    if args.json:
        _print_json(video)
    if video.get("status") == "ready":
        if not args.json:
            print(f"ready: {video.get('playback_url')}")
            print(f"poster: {video.get('poster_url')}")
        return EXIT_OK
    print(f"vodstack: transcoding failed: {video.get('error')}", file=sys.stderr)
    return EXIT_FAILED


async def wait_for_video(client: VodstackClient, video_id: str, interval: float) -> dict[str, Any]:
    """Poll the status until ready or failed, showing progress; a few lost polls are forgiven."""
    progress = ProgressLine(sys.stderr, tty=sys.stderr.isatty())
    failures = 0
    try:
        while True:
            try:
                video = await client.video(video_id)
                failures = 0
            except ClientError:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
                await asyncio.sleep(interval)
                continue
            status = str(video.get("status"))
            if status in {"ready", "failed"}:
                return video
            share = float(video.get("progress") or 0.0) if status == "processing" else None
            progress.show(
                transcode_line(status, share, with_bar=progress.tty), share or 0.0, label=status
            )
            await asyncio.sleep(interval)
    finally:
        progress.end()


# -- status, ls, rm ----------------------------------------------------------------------


async def status_command(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        video = await client.video(args.video_id)
    if args.json:
        _print_json(video)
    else:
        print(format_video(video))
    return EXIT_OK


def format_video(video: dict[str, Any]) -> str:
    status = str(video.get("status"))
    if status == "processing":
        status += f" ({float(video.get('progress') or 0):.0f}%)"
    size = format_megabytes(int(video.get("size") or 0))
    rows: list[tuple[str, Any]] = [
        ("id", video.get("id")),
        ("status", status),
        ("title", video.get("title")),
        ("file", f"{video.get('filename') or '-'} ({size})"),
        ("created", video.get("created_at")),
        ("updated", video.get("updated_at")),
        ("attempts", video.get("attempts")),
    ]
    if video.get("error"):
        rows.append(("error", video["error"]))
    if video.get("duration") is not None:
        rows.append(("duration", f"{float(video['duration']):.1f} s"))
    for rendition in video.get("renditions") or ():
        rows.append((
            "rendition",
            f"{rendition.get('name')} {rendition.get('resolution')} "
            f"{int(rendition.get('bandwidth') or 0) / 1e6:.2f} Mb/s",
        ))
    if video.get("playback_url"):
        rows.append(("playback", video["playback_url"]))
    if video.get("poster_url"):
        rows.append(("poster", video["poster_url"]))
    return "\n".join(
        f"{name + ':':<10} {value if value is not None else '-'}" for name, value in rows
    )


async def ls_command(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100:
        raise ClientError(f"--limit must be from 1 to 100, got {args.limit}")
    async with _client(args) as client:
        page = await client.videos(status=args.status, limit=args.limit, cursor=args.cursor)
    if args.json:
        _print_json(page)
        return EXIT_OK
    print(format_table(page.get("videos") or []))
    if page.get("next_cursor"):
        print(f"\nmore: vodstack ls --cursor {page['next_cursor']}")
    return EXIT_OK


def format_table(videos: list[dict[str, Any]]) -> str:
    if not videos:
        return "no videos"
    header = ("ID", "STATUS", "SIZE", "CREATED (UTC)", "TITLE")
    rows = [header]
    for video in videos:
        status = str(video.get("status"))
        if status == "processing":
            status += f" {float(video.get('progress') or 0):.0f}%"
        created = str(video.get("created_at") or "")[:19].replace("T", " ")
        rows.append((
            str(video.get("id")),
            status,
            format_megabytes(int(video.get("size") or 0)),
            created,
            str(video.get("title") or video.get("filename") or ""),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    )


async def rm_command(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        await client.delete(args.video_id)
    print(f"deleted {args.video_id}")
    return EXIT_OK


async def retry_command(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        video = await client.retry(args.video_id)
    print(f"queued again: {video.get('id')} (follow it with: vodstack status {video.get('id')})")
    return EXIT_OK
