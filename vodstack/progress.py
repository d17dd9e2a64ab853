"""Progress lines for the CLI on stderr: a redrawn bar on a terminal, else one line per 10 %.

The formatting is pure (`upload_line`, `bar`); `ProgressLine` only decides when to write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from vodstack.humanize import format_megabytes, format_rate

BAR_WIDTH = 30
REDRAW_INTERVAL = 0.1
PLAIN_STEP = 10
CLEAR_LINE = "\r\x1b[K"


def percent(done: float, total: float) -> float:
    if total <= 0:
        return 100.0
    return min(max(100.0 * done / total, 0.0), 100.0)


def bar(fraction_percent: float, width: int = BAR_WIDTH) -> str:
    filled = int(width * fraction_percent / 100)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def upload_line(done: int, total: int, elapsed: float, *, with_bar: bool) -> str:
    """`[#####.....]  50%  100.0 MB of 200.0 MB  35.2 MB/s`"""
    share = percent(done, total)
    rate = format_rate(done / elapsed) if elapsed > 0 else "-- MB/s"
    text = f"{share:3.0f}%  {format_megabytes(done)} of {format_megabytes(total)}  {rate}"
    return f"{bar(share)} {text}" if with_bar else text


def transcode_line(status: str, progress: float | None, *, with_bar: bool) -> str:
    if progress is None:
        return f"transcoding: {status}"
    share = percent(progress, 100)
    return f"transcoding: {bar(share) + ' ' if with_bar else ''}{share:3.0f}%"


def plain_step(share: float) -> int:
    """The 10 % step a share has reached (0, 10, ..., 100)."""
    return int(share // PLAIN_STEP) * PLAIN_STEP


class ProgressLine:
    """Writes progress to a stream: redrawn in place on a TTY, else a line per 10 % step."""

    def __init__(
        self, stream: TextIO, *, tty: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._tty = tty
        self._clock = clock
        self._last_draw = float("-inf")
        self._last_step = -1
        self._last_label: str | None = None
        self._open = False

    @property
    def tty(self) -> bool:
        return self._tty

    def show(self, line: str, share: float, *, label: str = "", force: bool = False) -> None:
        """Show `line` for a task that is `share` percent done (label: its current phase)."""
        if self._tty:
            now = self._clock()
            if force or now - self._last_draw >= REDRAW_INTERVAL:
                self._stream.write(CLEAR_LINE + line)
                self._stream.flush()
                self._last_draw = now
                self._open = True
            return
        step = plain_step(share)
        if force or step > self._last_step or label != self._last_label:
            self._stream.write(line + "\n")
            self._stream.flush()
            self._last_step = step
            self._last_label = label

    def end(self) -> None:
        """Finish the redrawn line so what follows starts on a new one."""
        if self._tty and self._open:
            self._stream.write("\n")
            self._stream.flush()
            self._open = False
