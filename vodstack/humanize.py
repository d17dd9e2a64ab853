"""Sizes, rates and durations in words people read quickly (`1.5 GiB`, `12.3 MB/s`)."""

from __future__ import annotations

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_size(size: int) -> str:
    """`format_size(10 * 1024**3)` → `10 GiB`; `1536` → `1.5 KiB`; `512` → `512 B`."""
    value = float(size)
    for unit in _BINARY_UNITS:
        if abs(value) < 1024 or unit == _BINARY_UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_rate(bytes_per_second: float) -> str:
    """Transfer rate in decimal megabytes per second, as download tools show it."""
    return f"{bytes_per_second / 1e6:.1f} MB/s"


def format_megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
