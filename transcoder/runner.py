"""Running ffmpeg and ffprobe as asyncio subprocesses that cannot outlive their job.

Each child starts in its own process group (so a kill reaches everything it started) and,
on Linux, with PR_SET_PDEATHSIG=SIGKILL so the kernel kills it if the worker dies without
cleaning up; it runs at a lower CPU priority (`nice`) so that serving keeps the CPU first.
A timeout, a stall (the output position not advancing for `stall_timeout` seconds) or a
cancelled task kills the group and waits for it. ffmpeg's `-progress pipe:1` output is
parsed into a percentage; the last lines of stderr are kept for the failure reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import os
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transcoder.errors import FfmpegError, FfmpegInputError, FfmpegStalled, FfmpegTimeout

STDERR_TAIL_LINES = 30
READ_CHUNK = 64 * 1024
MAX_LINE = 16 * 1024
PR_SET_PDEATHSIG = 1

ProgressCallback = Callable[[float], None]


# -- progress --------------------------------------------------------------------------


class ProgressParser:
    """ffmpeg `-progress` key=value lines → percent done, once per progress block.

    A block ends with `progress=continue` or `progress=end`; `out_time_us` is the output
    position in microseconds (`N/A` before the first frame). ffmpeg 5.1 also prints
    `out_time_ms`, which despite its name is in microseconds too.
    """

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.percent = 0.0
        self.position = -1.0
        """Furthest output position seen, in seconds (-1 before the first frame)."""

    def feed(self, line: str) -> float | None:
        key, _, value = line.strip().partition("=")
        if key in {"out_time_us", "out_time_ms"}:
            try:
                position = int(value) / 1_000_000
            except ValueError:
                return None
            self.position = max(self.position, position)
            if self.duration > 0 and position >= 0:
                self.percent = max(self.percent, min(100.0, 100.0 * position / self.duration))
            return None
        if key == "progress":
            if value == "end":
                self.percent = 100.0
            return self.percent
        return None


class StallClock:
    """When the output position last moved forward (pure, injectable clock).

    A hung ffmpeg (a stuck read, a decoder spinning on a bad frame, a stopped process)
    stops advancing its output position long before any whole-job timeout would fire.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._position = -1.0
        self._since = clock()

    def observe(self, position: float) -> None:
        if position > self._position:
            self._position = position
            self._since = self._clock()

    def stalled_for(self) -> float:
        return self._clock() - self._since


# -- failure classification ------------------------------------------------------------

_PREFIX_RE = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")
_TRANSIENT_MARKERS = (
    "no space left on device",
    "cannot allocate memory",
    "resource temporarily unavailable",
    "too many open files",
)
_INPUT_MARKERS = (
    (
        "invalid data found when processing input",
        "the file is corrupt or not a video ffmpeg can read",
    ),
    (
        "moov atom not found",
        "the file is incomplete (its MP4 index is missing; was the upload cut short?)",
    ),
    ("could not find codec parameters", "ffmpeg could not read the video's codec parameters"),
    ("decoder (codec", "the video uses a codec ffmpeg cannot decode"),
    ("unsupported codec", "the video uses a codec ffmpeg cannot decode"),
    ("does not contain any stream", "the file contains no audio or video streams"),
    ("invalid nal unit size", "the video stream is corrupt"),
    ("partial file", "the file is truncated"),
    ("end of file", "the file is truncated"),
)


def clean_line(line: str, hide: Sequence[str | Path] = ()) -> str:
    """One stderr line without ffmpeg's `[demuxer @ 0x...]` prefix or server paths."""
    text = _PREFIX_RE.sub("", line.strip())
    for path in hide:
        text = text.replace(f"{path}: ", "").replace(str(path), "input")
    return text


def input_failure_reason(
    stderr_tail: Sequence[str], returncode: int | None, hide: Sequence[str | Path] = ()
) -> str | None:
    """The user-facing reason if ffmpeg failed because of the input file, else None.

    Killed by a signal, out of disk or memory: the machine's fault, worth retrying. Any
    other failure we do not recognise is retried too (bounded by max attempts), since
    declaring a good video broken is worse than trying it a few more times.
    """
    if returncode is not None and returncode < 0:
        return None
    lowered = [line.lower() for line in stderr_tail]
    if any(marker in line for line in lowered for marker in _TRANSIENT_MARKERS):
        return None
    for line, original in zip(reversed(lowered), reversed(stderr_tail), strict=True):
        for marker, reason in _INPUT_MARKERS:
            if marker in line:
                return f"{reason} (ffmpeg: {clean_line(original, hide)})"
    return None


_TRUNCATION_MARKERS = ("partial file", "invalid data found", "end of file")
TRUNCATED_SHARE = 0.9
"""Less than this share of the declared duration encoded, with read errors: truncated."""


def truncation_reason(declared: float, encoded: float, stderr_tail: Sequence[str]) -> str | None:
    """The user-facing reason when ffmpeg "succeeded" on a cut-short file, else None.

    ffmpeg treats read errors in the middle of an input as warnings and exits 0 with what
    it could decode: an MP4 whose index is at the front (`+faststart`) but whose data was
    cut off declares its full length and yields only the first part. Such a file fails
    rather than being published as a shorter video than the one uploaded.
    """
    if declared <= 0 or encoded >= declared * TRUNCATED_SHARE:
        return None
    lowered = " ".join(stderr_tail).lower()
    if not any(marker in lowered for marker in _TRUNCATION_MARKERS):
        return None
    return (
        f"the file is truncated: only {encoded:.1f}s of its {declared:.1f}s could be read "
        "(was the upload cut short?)"
    )


# -- process handling ------------------------------------------------------------------


def _load_prctl() -> Callable[[int], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return None
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl

    def die_with_parent(parent_pid: int) -> None:
        # Runs in the child between fork and exec: the prctl call, then a check that the
        # parent did not die before it took effect (the signal would never come).
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return die_with_parent


_die_with_parent = _load_prctl()


def _prepare_child(parent_pid: int, nice: int) -> None:
    """In the child between fork and exec: die with the parent, lower the priority."""
    if _die_with_parent is not None:
        _die_with_parent(parent_pid)
    if nice > 0:
        with contextlib.suppress(OSError):
            os.nice(nice)


async def spawn(cmd: Sequence[str], *, nice: int = 0) -> asyncio.subprocess.Process:
    """Start `cmd` in its own process group, killed by the kernel if we die."""
    preexec = functools.partial(_prepare_child, os.getpid(), nice)
    try:
        return await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,
        )
    except FileNotFoundError as exc:
        raise FfmpegError(
            f"cannot run {cmd[0]!r}: not found (install ffmpeg or set its path)",
            command=cmd, returncode=None, stderr_tail=[],
        ) from exc


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's whole process group and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


async def _read_lines(stream: asyncio.StreamReader | None, on_line: Callable[[str], None]) -> None:
    """Every line of a pipe (split on \\n or \\r), very long lines cut, until EOF."""
    if stream is None:
        return
    pending = b""
    while chunk := await stream.read(READ_CHUNK):
        pending += chunk
        *lines, pending = re.split(rb"[\r\n]", pending)
        for line in lines:
            if line:
                on_line(line[:MAX_LINE].decode(errors="replace"))
        if len(pending) > MAX_LINE:
            on_line(pending[:MAX_LINE].decode(errors="replace"))
            pending = b""
    if pending:
        on_line(pending[:MAX_LINE].decode(errors="replace"))


@dataclass(frozen=True)
class Captured:
    returncode: int
    stdout: bytes
    stderr_tail: list[str]


async def run_capture(cmd: Sequence[str], *, time_limit: float, nice: int = 0) -> Captured:
    """Run a short command (ffprobe), keeping all of stdout and the tail of stderr."""
    proc = await spawn(cmd, nice=nice)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    assert proc.stdout is not None
    stdout_task = asyncio.ensure_future(proc.stdout.read())
    stderr_task = asyncio.ensure_future(_read_lines(proc.stderr, tail.append))
    try:
        async with asyncio.timeout(time_limit):
            stdout, _ = await asyncio.gather(stdout_task, stderr_task)
            returncode = await proc.wait()
    except TimeoutError:
        await _abort(proc, stdout_task, stderr_task)
        raise FfmpegTimeout(
            f"{Path(cmd[0]).name} ran longer than {time_limit:g}s",
            command=cmd, returncode=None, stderr_tail=list(tail),
        ) from None
    except BaseException:
        await _abort(proc, stdout_task, stderr_task)
        raise
    return Captured(returncode, stdout, list(tail))


async def _abort(proc: asyncio.subprocess.Process, *readers: asyncio.Future[Any]) -> None:
    await kill_group(proc)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


async def run_ffmpeg(
    cmd: Sequence[str],
    *,
    time_limit: float,
    duration: float,
    on_progress: ProgressCallback | None = None,
    hide_paths: Sequence[str | Path] = (),
    stall_timeout: float = 0.0,
    nice: int = 0,
) -> list[str]:
    """Run one ffmpeg command to completion; returns the tail of its stderr (warnings).

    Raises FfmpegTimeout (killed after `time_limit` seconds), FfmpegStalled (its output
    position did not advance for `stall_timeout` seconds; 0 disables the watchdog),
    FfmpegInputError (the input is at fault: permanent) or FfmpegError (anything else:
    worth retrying). Cancelling the calling task kills ffmpeg before the cancellation
    propagates.
    """
    parser = ProgressParser(duration)
    stall = StallClock()
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def on_stdout_line(line: str) -> None:
        percent = parser.feed(line)
        stall.observe(parser.position)
        if percent is not None and on_progress is not None:
            on_progress(percent)

    async def watchdog() -> None:
        """Returns once the output position has not advanced for `stall_timeout`."""
        while True:
            left = stall_timeout - stall.stalled_for()
            if left <= 0:
                return
            await asyncio.sleep(min(1.0, left))

    proc = await spawn(cmd, nice=nice)
    stdout_task = asyncio.ensure_future(_read_lines(proc.stdout, on_stdout_line))
    stderr_task = asyncio.ensure_future(_read_lines(proc.stderr, tail.append))
    reading = asyncio.gather(stdout_task, stderr_task)
    watch = asyncio.ensure_future(watchdog()) if stall_timeout > 0 else None
    try:
        async with asyncio.timeout(time_limit):
            if watch is not None:
                racing: list[asyncio.Future[Any]] = [reading, watch]
                await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                if watch.done() and not reading.done():
                    await _abort(proc, stdout_task, stderr_task)
                    raise FfmpegStalled(
                        f"ffmpeg made no progress for {stall_timeout:g}s and was stopped",
                        command=cmd, returncode=None, stderr_tail=list(tail),
                    )
            await reading
            returncode = await proc.wait()
    except TimeoutError:
        await _abort(proc, stdout_task, stderr_task)
        raise FfmpegTimeout(
            f"ffmpeg ran longer than the job timeout ({time_limit:g}s) and was stopped",
            command=cmd, returncode=None, stderr_tail=list(tail),
        ) from None
    except BaseException:
        await _abort(proc, stdout_task, stderr_task)
        raise
    finally:
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
    stderr_tail = list(tail)
    if returncode == 0:
        return stderr_tail
    reason = input_failure_reason(stderr_tail, returncode, hide_paths)
    message = f"ffmpeg exited with status {returncode}"
    if reason is not None:
        raise FfmpegInputError(
            message, reason=reason, command=cmd, returncode=returncode, stderr_tail=stderr_tail
        )
    raise FfmpegError(
        message, command=cmd, returncode=returncode, stderr_tail=stderr_tail,
        hide_paths=hide_paths,
    )
