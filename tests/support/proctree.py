"""Reading the process tree from /proc (Linux): who is whose child, and what it runs."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(program name, state, parent pid) of a live process, None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie (exited, not reaped yet) does not count."""
    stat = _stat(pid)
    return stat is not None and stat[1] != "Z"


def children(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[2] == pid and stat[1] != "Z":
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children(pending.pop()):
            found.append(child)
            pending.append(child)
    return found


def program(pid: int) -> str | None:
    stat = _stat(pid)
    return stat[0] if stat is not None else None


def ffmpeg_under(pid: int) -> list[int]:
    """Live ffmpeg/ffprobe processes below `pid`."""
    return [p for p in descendants(pid) if program(p) in {"ffmpeg", "ffprobe"} and alive(p)]
