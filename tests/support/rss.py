"""Resident memory of a process, from /proc (Linux): current and peak, and resetting the peak."""

from __future__ import annotations

import re
from pathlib import Path


def status_bytes(pid: int, field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (peak) of `pid`, in bytes."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match, f"{field} not in /proc/{pid}/status"
    return int(match.group(1)) * 1024


def reset_peak(pid: int) -> bool:
    """Writing 5 to clear_refs resets VmHWM to the current RSS; False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_baseline(pid: int) -> int:
    """What later peak readings are compared with: the reset peak, or the peak so far."""
    return status_bytes(pid, "VmRSS") if reset_peak(pid) else status_bytes(pid, "VmHWM")
