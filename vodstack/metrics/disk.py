"""Free space of the directories a service writes to, read at scrape time."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric


def _existing(path: Path) -> Path:
    """The path itself or its nearest existing parent (a scratch dir made on first use)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _usage(paths: dict[str, Path]) -> dict[str, tuple[int, int]]:
    usage: dict[str, tuple[int, int]] = {}
    for volume, path in paths.items():
        try:
            total, _used, free = shutil.disk_usage(_existing(path))
        except OSError:
            continue
        usage[volume] = (free, total)
    return usage


class DiskCollector:
    """`vodstack_disk_available_bytes{volume}` and `vodstack_disk_size_bytes{volume}` for
    the watched directories (volume: store, data, scratch)."""

    def __init__(self) -> None:
        self.paths: dict[str, Path] = {}
        self._usage: dict[str, tuple[int, int]] = {}

    def watch(self, volume: str, path: Path) -> None:
        self.paths[volume] = path

    async def refresh(self) -> None:
        self._usage = await asyncio.to_thread(_usage, dict(self.paths))

    def describe(self) -> Iterable[Metric]:
        return self._families({})

    def collect(self) -> Iterable[Metric]:
        return self._families(self._usage)

    @staticmethod
    def _families(usage: dict[str, tuple[int, int]]) -> list[Metric]:
        available = GaugeMetricFamily(
            "vodstack_disk_available_bytes",
            "Bytes free for the service on the file system of a directory it writes to.",
            labels=("volume",),
        )
        size = GaugeMetricFamily(
            "vodstack_disk_size_bytes",
            "Size of the file system of a directory the service writes to.",
            labels=("volume",),
        )
        for volume, (free, total) in sorted(usage.items()):
            available.add_metric([volume], float(free))
            size.add_metric([volume], float(total))
        return [available, size]
