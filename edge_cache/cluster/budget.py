"""How much each worker of a multi-process edge may cache, so the whole edge keeps to
cache_size + 100 MiB of resident memory.

The 100 MiB of headroom pays for one Python runtime (the edge with one process stays some
50 MiB under the bound); every further process brings its own runtime (some 40 MiB for a
worker, 25 MiB for the supervisor), and that comes out of the cache. Each process measures
its runtime itself once everything is imported, so the share follows the interpreter and
libraries actually installed. Measured with `bench/edge_memory.py` (docs/decisions.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SMALLEST_SHARE_FRACTION = 4
"""A worker caches at least cache_size / (4 * workers), however small the cache."""


@dataclass(frozen=True)
class Share:
    bytes: int
    """What one worker caches."""
    runtimes: int
    """Bytes taken from the cache for the supervisor's and the other workers' runtimes."""
    squeezed: bool
    """True when the runtimes leave less than the smallest share: the edge then goes over
    cache_size + 100 MiB (fewer processes or a larger cache keep it within)."""


def worker_share(cache_size: int, workers: int, supervisor_rss: int, worker_rss: int) -> Share:
    """Each worker's part of cache_size once the extra runtimes are paid for: the
    supervisor's and those of every worker but one."""
    runtimes = max(0, supervisor_rss) + (workers - 1) * max(0, worker_rss)
    even = (cache_size - runtimes) // workers
    smallest = max(1, cache_size // (SMALLEST_SHARE_FRACTION * workers))
    return Share(bytes=max(even, smallest), runtimes=runtimes, squeezed=even < smallest)


def resident_bytes() -> int:
    """This process's resident memory now (Linux: /proc/self/statm, a read that never
    waits for a disk); 0 where it cannot be read, so nothing is taken from the cache."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
