"""Free loopback ports, and what a process listens on (to prove it is loopback only)."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from pathlib import Path


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    # Something bound to 0.0.0.0 also takes the port for every address.
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port_pairs(
    count: int, offset: int = 10000, low: int = 12000, high: int = 22000
) -> list[int]:
    """`count` distinct ports `p` such that `p` and `p + offset` are both free.

    SeaweedFS derives each gRPC port as the HTTP port + 10000 in places that ignore the
    explicit flag, so both of a pair must be free. Ports come from a range below the
    kernel's ephemeral range, so outgoing connections do not race for them.
    """
    chosen: list[int] = []
    candidates = list(range(low, high))
    random.shuffle(candidates)
    for port in candidates:
        if any(abs(port - other) < 2 for other in chosen):
            continue
        if port_is_free(port) and port_is_free(port + offset):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"could not find {count} free port pairs in {low}..{high}")


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    return inodes


def _decode_address(hex_address: str) -> tuple[str, int]:
    host_hex, port_hex = hex_address.split(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), port
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words), port


def listening_addresses(pid: int) -> list[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP or bound UDP socket of `pid`."""
    inodes = _socket_inodes(pid)
    found: list[tuple[str, str, int]] = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        table = Path(f"/proc/{pid}/net/{proto}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            listening = state == "0A" if proto.startswith("tcp") else state == "07"
            if inode in inodes and listening:
                host, port = _decode_address(local)
                found.append((proto, host, port))
    return found
