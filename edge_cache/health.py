"""Health endpoints of an edge that fronts a stack it is part of (`vodstack serve`).

There the user-facing /healthz and /readyz must speak for the whole stack, so besides the
edge's own state they ask the upstreams' /healthz and /readyz and pass on their problems.
A standalone edge keeps the shallow checks in `edge_cache.app`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from edge_cache import admin
from edge_cache.upstreams import Upstream, UpstreamPool
from vodstack.web import RETRY_AFTER_SECONDS, json_response

CHECK_TIMEOUT = 5.0
"""Longer than a backend check (3 s), so the upstream's own verdict arrives first."""


async def _ask(pool: UpstreamPool, upstream: Upstream, path: str) -> tuple[int, Any]:
    """(status, JSON body) of GET `path` on one upstream; (0, reason) when it does not answer."""
    try:
        async with pool.session.get(
            upstream.target(path),
            timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT),
            allow_redirects=False,
        ) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            return response.status, body
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return 0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _problems(upstream: Upstream, status: int, body: Any, path: str, named: bool) -> list[str]:
    if status == 0:
        found = [f"not reachable ({body})"]
    elif isinstance(body, dict) and isinstance(body.get("problems"), list):
        found = [str(problem) for problem in body["problems"]]
    else:
        found = [f"{path} answered {status}"]
    return [f"{upstream.url}: {problem}" for problem in found] if named else found


async def upstream_verdict(pool: UpstreamPool, path: str) -> list[str]:
    """Problems reported by the upstreams' `path`; empty when at least one answers 200."""
    answers = await asyncio.gather(*(_ask(pool, upstream, path) for upstream in pool.upstreams))
    if any(status == 200 for status, _body in answers):
        return []
    named = len(pool.upstreams) > 1
    problems: list[str] = []
    for upstream, (status, body) in zip(pool.upstreams, answers, strict=True):
        problems.extend(_problems(upstream, status, body, path, named))
    return problems


def _answer(problems: list[str]) -> web.Response:
    if not problems:
        return json_response({"status": "ok"})
    return json_response(
        {"status": "unavailable", "problems": problems},
        status=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def stack_healthz(request: web.Request) -> web.Response:
    """Alive when the edge answers and so does an upstream's /healthz."""
    pool = request.app[admin.PROXY].pool
    return _answer(await upstream_verdict(pool, "/healthz"))


async def stack_readyz(request: web.Request) -> web.Response:
    """Ready when an upstream is in rotation and its /readyz (its backends) says ready."""
    pool = request.app[admin.PROXY].pool
    problems = [] if pool.any_available() else ["edge: no upstream is healthy"]
    return _answer(problems + await upstream_verdict(pool, "/readyz"))
