"""`vodstack upload | status | ls | rm` as real subprocesses against a real upload server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.ingest_server import IngestServer, StartIngest
from tests.support.processes import REPO_ROOT, free_port
from tests.upload.helpers import assert_nothing_left, eventually, file_of, payload
from vodstack import keys
from vodstack.catalog import Rendition, VideoStatus

MiB = 1024 * 1024
CLI_TIMEOUT = 60.0

pytestmark = pytest.mark.slow


class Cli:
    """One `python -m vodstack ...` run; stderr is collected line by line while it runs."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr_lines: list[str] = []
        self._stderr_task = asyncio.create_task(self._collect_stderr())

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Cli:
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        full_env.pop("VODSTACK_SERVER", None)
        full_env.update(env or {})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vodstack",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=full_env,
            cwd=REPO_ROOT,
        )
        return cls(proc)

    async def _collect_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr_lines.append(line.decode())

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    async def saw(self, text: str) -> None:
        await eventually(lambda: text in self.stderr, within=CLI_TIMEOUT)

    async def finish(self) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        try:
            stdout = await asyncio.wait_for(self.proc.stdout.read(), CLI_TIMEOUT)
            code = await asyncio.wait_for(self.proc.wait(), CLI_TIMEOUT)
            await self._stderr_task
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise
        return code, stdout.decode(), self.stderr


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return await (await Cli.start(*args, env=env)).finish()


def no_traceback(stderr: str) -> bool:
    return "Traceback" not in stderr


async def _only_video_id(server: IngestServer) -> str:
    async def one() -> bool:
        videos, _ = await server.catalog.list()
        return len(videos) == 1

    await eventually(one, within=CLI_TIMEOUT)
    videos, _ = await server.catalog.list()
    return videos[0].id


async def test_upload_no_wait(server: IngestServer, tmp_path: Path) -> None:
    clip = file_of(tmp_path / "clip.mp4", 3 * MiB + 5)
    code, stdout, stderr = await run_cli(
        "upload", str(clip), "--server", server.url, "--no-wait", "--title", "From the CLI"
    )
    assert code == 0, stderr
    video_id = await _only_video_id(server)
    assert f"id: {video_id}" in stdout
    assert f"{server.url}/v1/videos/{video_id}" in stdout
    # Non-TTY progress: one plain line per 10 % step, ending at 100 %.
    progress_lines = [line for line in stderr.splitlines() if line.startswith("uploading:")]
    assert progress_lines and "100%" in progress_lines[-1] and "MB/s" in progress_lines[-1]
    assert "\r" not in stderr
    assert await server.store.read(keys.source_key(video_id)) == payload(3 * MiB + 5)
    video = await server.catalog.get(video_id)
    assert video is not None
    assert (video.title, video.filename) == ("From the CLI", "clip.mp4")
    assert await server.queue.depth() == 1


async def test_upload_waits_until_ready(server: IngestServer, tmp_path: Path) -> None:
    clip = file_of(tmp_path / "movie.mp4", 100_000)
    cli = await Cli.start(
        "upload", str(clip), "--interval", "0.1", env={"VODSTACK_SERVER": server.url}
    )
    await cli.saw("transcoding: queued")
    video_id = await _only_video_id(server)
    await server.catalog.update(video_id, status=VideoStatus.PROCESSING, progress=50.0)
    await cli.saw("transcoding:  50%")
    await server.catalog.update(
        video_id,
        status=VideoStatus.READY,
        version="vcafe0001",
        duration=4.0,
        renditions=(Rendition("360p", 640, 360, 900_000, 800_000, "avc1.64001e", 30.0),),
    )
    code, stdout, stderr = await cli.finish()
    assert code == 0, stderr
    assert f"ready: {server.url}/v/{video_id}/master.m3u8" in stdout
    assert f"poster: {server.url}/v/{video_id}/vcafe0001/poster.jpg" in stdout


async def test_upload_waits_and_reports_failure(server: IngestServer, tmp_path: Path) -> None:
    clip = file_of(tmp_path / "notes.txt", 2000)
    cli = await Cli.start("upload", str(clip), "--server", server.url, "--interval", "0.1")
    await cli.saw("transcoding: queued")
    video_id = await _only_video_id(server)
    reason = "This file is not a video: ffprobe found no video stream."
    await server.catalog.update(video_id, status=VideoStatus.FAILED, error=reason)
    code, stdout, stderr = await cli.finish()
    assert code == 1
    assert "ready:" not in stdout
    assert reason in stderr
    assert no_traceback(stderr)


async def test_upload_json_output(server: IngestServer, tmp_path: Path) -> None:
    clip = file_of(tmp_path / "j.mp4", 1000)
    code, stdout, stderr = await run_cli(
        "upload", str(clip), "--server", server.url, "--no-wait", "--json"
    )
    assert code == 0, stderr
    created = json.loads(stdout)
    assert created["status"] == "queued" and keys.is_video_id(created["id"])


@pytest.mark.parametrize("command", [["upload", "FILE"], ["status", "AAAAAAAAAAAAAAAA"], ["ls"]])
async def test_server_down_is_one_clear_line(tmp_path: Path, command: list[str]) -> None:
    clip = file_of(tmp_path / "x.mp4", 1000)
    args = [str(clip) if part == "FILE" else part for part in command]
    down = f"http://127.0.0.1:{free_port()}"
    code, stdout, stderr = await run_cli(*args, "--server", down)
    assert code != 0
    assert stdout == ""
    [message] = [line for line in stderr.splitlines() if line.startswith("vodstack:")]
    assert f"cannot connect to {down}" in message
    assert "connection refused" in stderr.lower()
    assert no_traceback(stderr)


async def test_server_error_is_reported_not_raised(
    start_ingest: StartIngest, tmp_path: Path
) -> None:
    server = await start_ingest(max_upload_size=MiB)
    clip = file_of(tmp_path / "big.mp4", 2 * MiB)
    code, _, stderr = await run_cli("upload", str(clip), "--server", server.url)
    assert code == 1
    assert "1 MiB" in stderr and "413" in stderr
    assert no_traceback(stderr)
    await assert_nothing_left(server)


async def test_missing_file_and_bad_server_url(tmp_path: Path) -> None:
    code, _, stderr = await run_cli("upload", str(tmp_path / "nope.mp4"))
    assert code == 1 and "is not a file" in stderr and no_traceback(stderr)
    code, _, stderr = await run_cli("ls", "--server", "ftp://x")
    assert code == 1 and "http://" in stderr and no_traceback(stderr)


async def test_status_ls_rm(server: IngestServer, tmp_path: Path) -> None:
    ids = []
    for name in ("first.mp4", "second.mp4"):
        code, _, stderr = await run_cli(
            "upload", str(file_of(tmp_path / name, 5000)), "--server", server.url, "--no-wait"
        )
        assert code == 0, stderr
        videos, _ = await server.catalog.list()
        ids.append(videos[0].id)
    first, second = ids
    await server.catalog.update(second, status=VideoStatus.PROCESSING, progress=12.0)

    code, stdout, _ = await run_cli("status", second, "--server", server.url, "--json")
    assert code == 0 and json.loads(stdout)["progress"] == 12.0
    code, stdout, _ = await run_cli("status", second, "--server", server.url)
    assert code == 0 and "processing (12%)" in stdout and "second.mp4" in stdout

    code, stdout, _ = await run_cli("ls", "--server", server.url)
    lines = stdout.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["ID", "STATUS"]
    assert [line.split()[0] for line in lines[1:3]] == [second, first]  # newest first
    code, stdout, _ = await run_cli("ls", "--server", server.url, "--status", "queued", "--json")
    assert [v["id"] for v in json.loads(stdout)["videos"]] == [first]
    code, stdout, _ = await run_cli("ls", "--server", server.url, "--limit", "1")
    assert "vodstack ls --cursor " in stdout

    code, stdout, _ = await run_cli("rm", first, "--server", server.url)
    assert code == 0 and f"deleted {first}" in stdout
    assert await server.catalog.get(first) is None
    code, _, stderr = await run_cli("status", first, "--server", server.url)
    assert code == 1 and "video_not_found" in stderr and no_traceback(stderr)
    code, _, stderr = await run_cli("rm", first, "--server", server.url)
    assert code == 1 and "404" in stderr
