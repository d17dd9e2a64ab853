"""Running wrk (no Lua script) and reading its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
"""wrk prints sizes in powers of 1024 with these names."""


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something we cannot read."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    bytes_per_second: float
    latency: dict[str, float]
    """Seconds at p50, p75, p90, p99 (with --latency), and `avg`, `max`."""
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    """connect, read, write, timeout."""

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes_per_second / 1e6

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = self.errors
        return data


def parse_time(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise WrkError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def parse_size(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", text.strip())
    if not match:
        raise WrkError(f"not a wrk size: {text!r}")
    return float(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk 4.x's text report."""
    total = re.search(r"(\d+) requests in ([\d.]+\w+), (\S+) read", output)
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    transfer = re.search(r"Transfer/sec:\s*(\S+)", output)
    if not (total and rate and transfer):
        raise WrkError("wrk printed no totals:\n" + output[-2000:])
    latency: dict[str, float] = {}
    stats = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+", output)
    if stats:
        latency["avg"] = parse_time(stats.group(1))
        latency["max"] = parse_time(stats.group(3))
    for percent, value in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE):
        latency[f"p{percent}"] = parse_time(value)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if sockets:
        socket_errors = dict(zip(socket_errors, map(int, sockets.groups()), strict=True))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=parse_time(total.group(2)),
        requests_per_second=float(rate.group(1)),
        bytes_per_second=parse_size(transfer.group(1)),
        latency=latency,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def wrk_command(
    url: str,
    *,
    seconds: int,
    connections: int = 64,
    threads: int = 2,
    headers: Mapping[str, str] | None = None,
    timeout: int = 5,
) -> list[str]:
    """wrk reads whole seconds only (`-d1.5s` is a usage error)."""
    if seconds < 1 or connections < threads or threads < 1:
        raise ValueError("wrk needs seconds >= 1 and connections >= threads >= 1")
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
        "--timeout", f"{int(timeout)}s",
    ]  # fmt: skip
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    return [*command, url]


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int = 64,
    threads: int = 2,
    headers: Mapping[str, str] | None = None,
    timeout: int = 5,
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise WrkError("wrk is not installed (apt-get install wrk, or scripts/install.sh --bench)")
    command = wrk_command(
        url, seconds=seconds, connections=connections, threads=threads, headers=headers,
        timeout=timeout,
    )  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=False
    )
    if result.returncode != 0:
        raise WrkError(f"{' '.join(command)} failed: {result.stderr.strip() or result.stdout}")
    return parse_wrk(result.stdout)
