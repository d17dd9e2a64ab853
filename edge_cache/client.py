"""Calling edges from other services: purge a video's URLs, warm a newly published one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from edge_cache.router import pick_edge

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class EdgeResult:
    edge: str
    ok: bool
    detail: dict[str, object] | str
    """The edge's JSON answer, or what went wrong."""


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, token: str, **kwargs: object
) -> EdgeResult:
    edge = url.split("/_edge/", 1)[0]
    try:
        async with session.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs  # type: ignore[arg-type]
        ) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = {"text": (await response.text())[:200]}
            ok = response.status < 300
            return EdgeResult(edge, ok, body if ok else f"HTTP {response.status}: {body}")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return EdgeResult(edge, False, f"{type(exc).__name__}: {exc}")


async def purge(
    edge_urls: Sequence[str],
    prefix: str,
    token: str,
    *,
    time_limit: float = DEFAULT_TIMEOUT,
) -> list[EdgeResult]:
    """Remove every cached URL starting with `prefix` (e.g. "/v/<id>/") from every edge.

    Never raises for an unreachable edge: the result says which edges failed.
    """
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=time_limit)) as session:
        return list(await asyncio.gather(*(
            _call(session, "DELETE", f"{edge.rstrip('/')}/_edge/cache", token,
                  params={"prefix": prefix})
            for edge in edge_urls
        )))


async def warm(
    edge_urls: Sequence[str],
    paths: Sequence[str],
    budget: int,
    token: str,
    *,
    segments: int = 3,
    expand: bool = True,
    time_limit: float = DEFAULT_TIMEOUT,
) -> list[EdgeResult]:
    """Ask each path's owning edge (rendezvous hashing) to fetch it into its cache.

    `budget` bounds the bytes each edge fetches for this call; unless `expand` is false,
    playlists are expanded by the edge to their renditions and first `segments` segments
    (leave expansion off when `paths` already lists them: each then goes to its own owner).
    """
    by_edge: dict[str, list[str]] = {}
    for path in paths:
        by_edge.setdefault(pick_edge(path, list(edge_urls)), []).append(path)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=time_limit)) as session:
        return list(await asyncio.gather(*(
            _call(session, "POST", f"{edge.rstrip('/')}/_edge/warm", token,
                  json={"paths": edge_paths, "budget": budget, "segments": segments,
                        "expand": expand})
            for edge, edge_paths in by_edge.items()
        )))
