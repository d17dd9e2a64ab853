"""The edge's own endpoints under /_edge/: purge, warm and stats (bearer-token protected)."""

from __future__ import annotations

import hmac
import json
import os
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge_cache.proxy import EdgeProxy
from edge_cache.warm import Warmer
from vodstack.api_keys import bearer_token
from vodstack.auth import authenticate
from vodstack.catalog.apikeys import ApiKeyStore
from vodstack.errors import ApiError, ErrorCode
from vodstack.web import json_response

if TYPE_CHECKING:
    from edge_cache.cluster.link import SiblingLink

PROXY: web.AppKey[EdgeProxy] = web.AppKey("edge_proxy", EdgeProxy)
WARMER: web.AppKey[Warmer] = web.AppKey("edge_warmer", Warmer)
TOKEN: web.AppKey[str] = web.AppKey("edge_purge_token", str)
API_KEYS: web.AppKey[ApiKeyStore] = web.AppKey("edge_api_keys")
"""Set when API keys are required: a vodstack API key also opens these endpoints."""
SIBLINGS: web.AppKey[SiblingLink] = web.AppKey("edge_siblings")
"""Set in each process of a multi-process edge: purges reach, and stats cover, them all."""

MAX_WARM_PATHS = 10_000
DEFAULT_WARM_SEGMENTS = 3


async def authorise(request: web.Request) -> None:
    """The purge token or (when API keys are required) an API key; 401 without a bearer
    token, 403 with a wrong one; 403 when neither is configured."""
    expected = request.app.get(TOKEN)
    api_keys = request.app.get(API_KEYS)
    if not expected and api_keys is None:
        raise ApiError(
            ErrorCode.FORBIDDEN,
            "Purge and warm are disabled on this edge: start it with --purge-token "
            "(VODSTACK_PURGE_TOKEN) or with API keys required (VODSTACK_REQUIRE_API_KEY).",
        )
    header = request.headers.get("Authorization")
    token = bearer_token(header)
    if token is None:
        raise ApiError(
            ErrorCode.UNAUTHORIZED,
            "Send Authorization: Bearer <purge token or API key>.",
            headers={"WWW-Authenticate": 'Bearer realm="vodstack-edge"'},
        )
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    if api_keys is not None:
        await authenticate(api_keys, header)
        return
    raise ApiError(ErrorCode.FORBIDDEN, "Wrong purge token.")


async def purge(request: web.Request) -> web.Response:
    """DELETE /_edge/cache?prefix=/v/<id>/ (or ?path=/exact?query) → {"removed": n}."""
    await authorise(request)
    proxy = request.app[PROXY]
    prefix = request.query.get("prefix")
    path = request.query.get("path")
    if (prefix is None) == (path is None):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "Give exactly one of ?prefix= or ?path=.")
    target = prefix if prefix is not None else path
    assert target is not None
    if not target.startswith("/"):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "The prefix or path must start with '/'.")
    if prefix is not None:
        removed = proxy.store.purge_prefix(prefix)
    else:
        removed = proxy.store.remove_key(target)
    proxy.stats["purged"] += removed
    siblings = request.app.get(SIBLINGS)
    if siblings is not None:  # the other processes removed theirs: count them in
        removed += sum(n for n in await siblings.tally() if isinstance(n, int))
    return json_response({"removed": removed})


async def warm(request: web.Request) -> web.Response:
    """POST /_edge/warm {"paths": [...], "budget": bytes?, "segments": n?, "expand": b?} → 202.

    Unless "expand" is false, a path ending in .m3u8 is expanded: a master playlist to its
    media playlists, a media playlist to its init segment and first `segments` segments.
    """
    await authorise(request)
    try:
        body: Any = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(ErrorCode.BAD_REQUEST, "The body must be JSON.") from None
    if isinstance(body, list):
        body = {"paths": body}
    if not isinstance(body, dict):
        raise ApiError(ErrorCode.BAD_REQUEST, 'Send {"paths": ["/path", ...]}.')
    paths = body.get("paths")
    if (
        not isinstance(paths, list) or not paths or len(paths) > MAX_WARM_PATHS
        or not all(isinstance(p, str) and p.startswith("/") for p in paths)
    ):
        raise ApiError(
            ErrorCode.INVALID_PARAMETER,
            f"'paths' must be a list of 1 to {MAX_WARM_PATHS} paths starting with '/'.",
        )
    budget = body.get("budget")
    segments = body.get("segments", DEFAULT_WARM_SEGMENTS)
    if budget is not None and (not isinstance(budget, int) or budget <= 0):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "'budget' must be a positive byte count.")
    if not isinstance(segments, int) or not 0 <= segments <= 1000:
        raise ApiError(ErrorCode.INVALID_PARAMETER, "'segments' must be 0 to 1000.")
    expand = body.get("expand", True)
    if not isinstance(expand, bool):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "'expand' must be true or false.")
    warmer = request.app[WARMER]
    job = warmer.submit(paths, budget=budget, segments=segments, expand=expand)
    return json_response(
        {"accepted": len(job.paths), "budget": job.budget, "segments": segments}, status=202
    )


async def stats(request: web.Request) -> web.Response:
    """GET /_edge/stats: counters, cache occupancy and upstream health (of every process
    of a multi-process edge, added up)."""
    await authorise(request)
    mine = local_stats(request.app)
    siblings = request.app.get(SIBLINGS)
    if siblings is None:
        return json_response(mine)
    others = [answer for answer in await siblings.ask("stats") if isinstance(answer, dict)]
    return json_response(merge_stats([mine, *others]))


def local_stats(app: web.Application) -> dict[str, Any]:
    """This process's part of /_edge/stats."""
    proxy = app[PROXY]
    store = proxy.store
    return {
        "cache": {
            "entries": len(store),
            "bytes": store.total_bytes,
            "capacity": store.capacity,
            "max_object": store.max_object,
            "evictions": store.evictions,
        },
        "counters": dict(proxy.stats),
        "warming": app[WARMER].running,
        "upstreams": proxy.pool.status(),
        "pid": os.getpid(),
    }


_BREAKER_ORDER = {"open": 0, "half_open": 1, "closed": 2}


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One /_edge/stats answer from each process's: sizes and counters added up (max_object
    is per process), an upstream healthy only where every process finds it so, its breaker
    as the worst one seen; `processes` answered."""
    cache: dict[str, int] = {}
    counters: dict[str, int] = {}
    upstreams: dict[str, dict[str, Any]] = {}
    for part in parts:
        for name, value in part["cache"].items():
            cache[name] = max(cache.get(name, 0), value) if name == "max_object" else (
                cache.get(name, 0) + value
            )
        for name, value in part["counters"].items():
            counters[name] = counters.get(name, 0) + value
        for upstream in part["upstreams"]:
            known = upstreams.get(upstream["url"])
            if known is None:
                upstreams[upstream["url"]] = dict(upstream)
                continue
            for name in ("active", "requests", "failures"):
                known[name] += upstream[name]
            known["healthy"] = known["healthy"] and upstream["healthy"]
            if _BREAKER_ORDER.get(upstream["breaker"], 2) < _BREAKER_ORDER.get(
                known["breaker"], 2
            ):
                known["breaker"] = upstream["breaker"]
    return {
        "cache": cache,
        "counters": counters,
        "warming": sum(part["warming"] for part in parts),
        "upstreams": list(upstreams.values()),
        "processes": len(parts),
        "workers": sorted(
            (
                {
                    "pid": part.get("pid"),
                    "entries": part["cache"]["entries"],
                    "bytes": part["cache"]["bytes"],
                    "capacity": part["cache"]["capacity"],
                    "hits": part["counters"].get("hit", 0),
                }
                for part in parts
            ),
            key=lambda worker: worker["pid"] or 0,
        ),
    }


def add_routes(app: web.Application) -> None:
    app.router.add_delete("/_edge/cache", purge)
    app.router.add_post("/_edge/warm", warm)
    app.router.add_get("/_edge/stats", stats)
