"""Which edge owns a URL: rendezvous (highest-random-weight) hashing.

Every client computes the same owner without coordination, and adding or removing one edge
out of N moves only about 1/N of the URLs (the ones the changed edge wins or held).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _score(edge: str, url: str) -> int:
    digest = hashlib.blake2b(f"{edge}\n{url}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def pick_edge(url: str, edges: Sequence[str]) -> str:
    """The edge with the highest score for `url` (ties broken by name)."""
    if not edges:
        raise ValueError("no edges to pick from")
    return max(edges, key=lambda edge: (_score(edge, url), edge))


def rank_edges(url: str, edges: Sequence[str]) -> list[str]:
    """All edges by preference for `url`: the owner first, then its fallbacks."""
    return sorted(edges, key=lambda edge: (_score(edge, url), edge), reverse=True)
