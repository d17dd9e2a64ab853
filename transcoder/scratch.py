"""A worker's scratch space: its own locked directory, swept when its owner died, and a
check that a job fits on the disk before it starts.

Each worker process works in `scratch_path/w-<token>/`, holding an exclusive `flock` on
`w-<token>/.lock` for as long as it lives. The kernel drops the lock when the process
dies (SIGKILL included), so a worker starting up can tell the directories of dead workers
(lock free) from those of live ones sharing the same disk (lock held), and removes only
the former: a crashed worker's half-written renditions never fill the disk.

`scratch_needed` is the pure estimate of what a job writes; `ScratchSpace.reserve` refuses
a job (a transient error: it is retried later, possibly by a worker with more room) when
the disk would be left with less than `min_free_space`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from transcoder.ladder import Rung
from vodstack.humanize import format_size

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
DIR_PREFIX = "w-"
OUTPUT_OVERHEAD = 1.25
"""Playlists, fMP4 boxes and encoder overshoot above the nominal bit rates."""
FIXED_OVERHEAD = 4 * 1024**2
"""Poster, init segments, playlists: a few MiB whatever the length."""


class ScratchSpaceUnavailable(Exception):
    """The disk has not enough room for this job now; `reason` is fit for the catalogue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def scratch_needed(
    *, duration: float, rungs: Sequence[Rung], source_size: int = 0
) -> int:
    """Bytes a job writes to scratch: the downloaded source (0 when read in place) plus
    every rendition at its peak bit rate (`maxrate`), with some overhead."""
    bits_per_second = sum(rung.maxrate + (rung.audio_bitrate or 0) for rung in rungs)
    encoded = bits_per_second / 8 * max(0.0, duration) * OUTPUT_OVERHEAD
    return int(source_size + encoded + FIXED_OVERHEAD)


def check_fits(needed: int, free: int, min_free: int, what: str) -> None:
    """Raise ScratchSpaceUnavailable unless `needed` bytes leave `min_free` free."""
    if free - needed < min_free:
        raise ScratchSpaceUnavailable(
            f"not enough scratch space on the worker for {what}: needs about "
            f"{format_size(needed)} plus {format_size(min_free)} kept free, "
            f"{format_size(max(0, free))} available; it will be tried again later"
        )


def _try_lock(path: Path) -> IO[bytes] | None:
    """An open file holding an exclusive lock on `path`, or None if someone holds it."""
    handle = open(path, "a+b")  # noqa: SIM115 - kept open to hold the lock
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class ScratchSpace:
    """One worker's directory under `root`; `open()` before use, `close()` at the end."""

    def __init__(self, root: Path, *, min_free: int = 0) -> None:
        self.root = root
        self.min_free = min_free
        self.directory = root / f"{DIR_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self._lock: IO[bytes] | None = None

    async def open(self) -> int:
        """Create and lock our directory; returns how many dead workers' ones were removed."""
        swept = await asyncio.to_thread(self._open_sync)
        if swept:
            log.info("removed the scratch space of %d stopped worker(s) in %s", swept, self.root)
        return swept

    def _open_sync(self) -> int:
        # Locked under a name the sweep ignores, then renamed (the lock follows the open
        # file): another worker starting at the same moment never sees it unlocked.
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{self.directory.name}"
        staging.mkdir()
        lock = _try_lock(staging / LOCK_NAME)
        if lock is None:  # pragma: no cover - a fresh random name is never locked
            raise RuntimeError(f"scratch directory {staging} is locked by another process")
        staging.rename(self.directory)
        self._lock = lock
        return self._sweep_sync()

    def _sweep_sync(self) -> int:
        swept = 0
        for entry in self.root.iterdir():
            if not entry.name.startswith(DIR_PREFIX) or entry == self.directory:
                continue
            if not entry.is_dir():
                continue
            try:
                lock = _try_lock(entry / LOCK_NAME)
            except OSError:
                continue
            if lock is None:
                continue  # a live worker's
            try:
                shutil.rmtree(entry, ignore_errors=True)
                swept += 1
            finally:
                lock.close()
        return swept

    def job_dir(self, name: str) -> Path:
        return self.directory / name

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.directory if self.directory.exists() else self.root).free

    async def reserve(self, needed: int, what: str) -> None:
        """Raise ScratchSpaceUnavailable unless `needed` bytes fit above `min_free`."""
        free = await asyncio.to_thread(self.free_bytes)
        check_fits(needed, free, self.min_free, what)

    async def close(self) -> None:
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()
            self._lock = None
