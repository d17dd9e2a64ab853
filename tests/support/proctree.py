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


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets `pid` has open."""
    found = set()
    try:
        links = list((PROC / str(pid) / "fd").iterdir())
    except OSError:
        return found
    for link in links:
        try:
            target = link.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[len("socket:[") : -1]))
    return found


def tcp_peer_inode(local_port: int, remote_port: int) -> int | None:
    """Inode of the IPv4 TCP socket from `local_port` to `remote_port` (the server's end
    of a loopback connection whose client uses `remote_port`)."""
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], int(fields[9])
        if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == (
            remote_port
        ):
            return inode
    return None


def unix_socket_paths(pid: int) -> list[Path]:
    """Paths of the unix sockets `pid` has open with a name in the file system."""
    mine = socket_inodes(pid)
    paths = []
    for line in (PROC / "net" / "unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and int(fields[6]) in mine and fields[7].startswith("/"):
            paths.append(Path(fields[7]))
    return paths
