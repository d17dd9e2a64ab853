"""A corpus of bad uploads against a real `vodstack serve`: each ends `failed` with a reason
a person understands (or is refused at upload), nothing is retried that cannot succeed,
and the service stays healthy and keeps transcoding good files afterwards.

The table of inputs and reasons in docs/RELIABILITY.md is generated from this test
(`VODSTACK_WRITE_DOCS=1`).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hls import fetch_ladder, http_json, upload_file, wait_for_status
from tests.support.processes import VodstackProcess
from tests.support.report import write_section

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MAX_DURATION = 20


@dataclass(frozen=True)
class BadInput:
    label: str
    file: Path
    reason_contains: str
    """Part of the reason the video must fail with (None: refused at upload)."""


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True, timeout=120,
    )  # fmt: skip


def make_corpus(directory: Path, make_clip: Callable[..., Path]) -> list[BadInput]:
    """Every file is made here, cheaply, by ffmpeg or by hand."""
    directory.mkdir()
    rng = random.Random(1234)
    good = make_clip(duration=4, width=320, height=240)

    def path(name: str) -> Path:
        return directory / name

    path("random.mp4").write_bytes(rng.randbytes(64 * 1024))
    path("notes.txt").write_text("minutes of the meeting, not a video\n" * 200)
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(path("still.png")))
    path("still-named.mp4").write_bytes(path("still.png").read_bytes())
    # A camera file is written index last: cut in half, its index is gone.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6", "-c:v", "libx264",
           "-preset", "ultrafast", str(path("camera.mp4")))  # fmt: skip
    camera = path("camera.mp4").read_bytes()
    path("truncated-camera.mp4").write_bytes(camera[: len(camera) // 2])
    # A web file has its index first: cut in half, it declares more than it holds.
    whole = good.read_bytes()
    path("truncated-faststart.mp4").write_bytes(whole[: len(whole) // 2])
    ffmpeg("-f", "lavfi", "-i", "sine=d=3", "-c:a", "aac", str(path("audio-only.mp4")))
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=1x1:r=25:d=2", "-c:v", "libx264",
           "-pix_fmt", "yuv444p", str(path("one-pixel.mp4")))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=10000x16:r=25:d=1", "-c:v", "libx264",
           "-preset", "ultrafast", str(path("strip-10000x16.mp4")))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", f"testsrc=s=64x64:r=5:d={MAX_DURATION + 10}", "-c:v",
           "libx264", "-preset", "ultrafast", str(path("too-long.mp4")))  # fmt: skip
    return [
        BadInput("random bytes", path("random.mp4"), "not a video ffmpeg can read"),
        BadInput("a text file", path("notes.txt"), "not a video ffmpeg can read"),
        BadInput("a PNG image", path("still.png"), "still image"),
        BadInput("a PNG named .mp4", path("still-named.mp4"), "still image"),
        BadInput("first half of an MP4 (index at the end)", path("truncated-camera.mp4"),
                 "incomplete"),
        BadInput("first half of an MP4 (index at the front)", path("truncated-faststart.mp4"),
                 "truncated"),
        BadInput("an MP4 with only audio", path("audio-only.mp4"), "only audio"),
        BadInput("a 1x1 video", path("one-pixel.mp4"), "1x1 pixels"),
        BadInput("a 10000x16 video", path("strip-10000x16.mp4"), "largest accepted"),
        BadInput(f"a {MAX_DURATION + 10}s video (max_duration {MAX_DURATION}s)",
                 path("too-long.mp4"), "longest accepted"),
    ]  # fmt: skip


async def test_bad_inputs_fail_with_clear_reasons_and_the_service_stays_healthy(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    corpus = await asyncio.to_thread(make_corpus, tmp_path / "corpus", make_clip)
    serve = start_vodstack(
        "serve", "--data-dir", str(tmp_path / "data"), "--port", "0",
        "--x264-preset", "ultrafast", "--max-duration", f"{MAX_DURATION}s",
        "--retry-base-delay", "0.1", "--retry-max-delay", "0.5",
    )  # fmt: skip
    rows = ["| input | upload | final status | reason shown to the user |", "|---|---|---|---|"]

    # An empty body is refused at upload.
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    status, body, _headers = await asyncio.to_thread(upload_file, serve.url, empty)
    assert status == 400 and body["error"]["code"] == "empty_body", body
    rows.append(f"| an empty body | 400 `empty_body` | (none) | {body['error']['message']} |")

    uploaded = []
    for bad in corpus:
        status, body, _headers = await asyncio.to_thread(upload_file, serve.url, bad.file)
        assert status == 201, (bad.label, body)
        uploaded.append((bad, body))
    for bad, body in uploaded:
        video = await asyncio.to_thread(wait_for_status, body["status_url"], {"ready", "failed"})
        assert video["status"] == "failed", (bad.label, video)
        reason = video["error"]
        assert bad.reason_contains in reason, (bad.label, reason)
        assert str(tmp_path) not in reason and "/scratch" not in reason, reason
        assert video["attempts"] == 1, (bad.label, video)  # permanent: never retried
        rows.append(f"| {bad.label} | 201 | failed | {reason} |")

    # Every failure is listed for the operator.
    code, listing = await asyncio.to_thread(
        http_json, f"{serve.url}/v1/videos?status=failed&limit=100"
    )
    assert code == 200
    assert {v["id"] for v in listing["videos"]} == {body["id"] for _bad, body in uploaded}

    # Still healthy, and a real MP4 with a misleading name is transcoded.
    for path in ("/healthz", "/readyz"):
        code, answer = await asyncio.to_thread(http_json, serve.url + path)
        assert (code, answer["status"]) == (200, "ok"), answer
    disguised = tmp_path / "holiday.txt"
    disguised.write_bytes(make_clip(duration=4, width=320, height=240).read_bytes())
    status, body, _headers = await asyncio.to_thread(upload_file, serve.url, disguised)
    assert status == 201
    video = await asyncio.to_thread(wait_for_status, body["status_url"], {"ready", "failed"})
    assert video["status"] == "ready", video
    await asyncio.to_thread(fetch_ladder, video["playback_url"])
    rows.append("| a real MP4 named .txt | 201 | ready | (plays) |")
    assert "Traceback" not in serve.log_text()
    assert await asyncio.to_thread(serve.stop) == 0
    write_section("bad-inputs", "\n".join(rows))
