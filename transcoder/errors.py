"""How a transcode can fail, and whether trying again could help.

`PermanentJobError` carries a reason written for the person who uploaded the video; the
worker fails the job at once with it. Everything else that escapes a job (store or queue
unavailable, timeouts, ffmpeg dying for reasons outside the input) is treated as transient
and retried with backoff up to the job's max attempts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class PermanentJobError(Exception):
    """The input cannot be transcoded, however often we try; `reason` is user-facing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VideoGone(Exception):
    """The video was deleted while its job ran; nothing should be published."""


class LeaseLost(Exception):
    """Another worker owns the job now (our lease expired or the job was cancelled)."""


class FfmpegError(Exception):
    """An ffmpeg or ffprobe run failed; carries the command and the tail of its stderr."""

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str],
        returncode: int | None,
        stderr_tail: Sequence[str],
        hide_paths: Sequence[str | Path] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.command = list(command)
        self.returncode = returncode
        self.stderr_tail = list(stderr_tail)
        self.hide_paths = list(hide_paths)
        """Server paths to leave out of anything shown to users."""

    def __str__(self) -> str:
        last = self.stderr_tail[-1] if self.stderr_tail else "no error output"
        return f"{self.message}: {last}"

    def details(self) -> str:
        """Command and stderr tail, for logs (never shown to users: it has server paths)."""
        return (
            f"{self.message}\ncommand: {' '.join(self.command)}\n"
            + "\n".join(self.stderr_tail)
        )


class FfmpegTimeout(FfmpegError):
    """ffmpeg ran longer than the job timeout and was killed."""


class FfmpegStalled(FfmpegTimeout):
    """ffmpeg's output position stopped advancing (hung) and it was killed."""


class FfmpegInputError(FfmpegError, PermanentJobError):
    """ffmpeg failed because of the input file itself: trying again will not help."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        command: Sequence[str],
        returncode: int | None,
        stderr_tail: Sequence[str],
    ) -> None:
        FfmpegError.__init__(
            self, message, command=command, returncode=returncode, stderr_tail=stderr_tail
        )
        self.reason = reason
