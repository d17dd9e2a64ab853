"""Giving freed response bodies back to the operating system (glibc).

glibc's malloc serves large blocks with mmap, but raises that threshold to the size of the
largest block freed (up to 32 MiB): after the first evicted segment, 1.6 MB bodies come
from the heap, whose freed holes are reused but seldom returned, so the resident size of
an edge that keeps evicting drifts far above its cache. A fixed threshold keeps every
body of 128 KiB or more in its own mapping, returned when the body is freed; two arenas
keep threads (DNS, metrics) from holding their own heaps. Measured with
`bench/edge_memory.py` (docs/decisions.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024


def return_large_blocks_to_the_os() -> bool:
    """Fix glibc's mmap threshold (no-op elsewhere); True when it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    mallopt(M_TRIM_THRESHOLD, 4 * MMAP_THRESHOLD)
    mallopt(M_ARENA_MAX, 2)
    if not ok:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
    return ok
