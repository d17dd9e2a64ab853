"""Which master playlists to play: given directly, or the ready videos of an API listing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

LISTING_PATH = "/v1/videos"
PAGE_SIZE = 100


class TargetError(Exception):
    """No playable video could be found from the URLs given; the message says why."""


def is_playlist_url(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(".m3u8")


def api_base(url: str) -> str:
    """`http://host/v1/videos/` or `http://host/` → `http://host`."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    path = path.removesuffix(LISTING_PATH)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def playback_urls(listing: Any, base: str) -> list[str]:
    """Master URLs of the ready videos in one listing page, on `base` (the host the test
    loads), whatever public host the server wrote into its links."""
    if not isinstance(listing, dict) or not isinstance(listing.get("videos"), list):
        raise TargetError(f"{base}{LISTING_PATH} did not answer with a video listing")
    urls = []
    for video in listing["videos"]:
        if not isinstance(video, dict) or video.get("status") != "ready":
            continue
        link = video.get("playback_url")
        if isinstance(link, str) and link:
            parts = urlsplit(link)
            urls.append(base + parts.path + (f"?{parts.query}" if parts.query else ""))
    return urls


async def list_ready(
    http: aiohttp.ClientSession, url: str, limit: int, api_key: str | None = None
) -> list[str]:
    base = api_base(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    found: list[str] = []
    cursor: str | None = None
    while len(found) < limit:
        params = {"status": "ready", "limit": str(PAGE_SIZE)}
        if cursor:
            params["cursor"] = cursor
        try:
            async with http.get(base + LISTING_PATH, params=params, headers=headers) as response:
                text = await response.text()
                if response.status in {401, 403}:
                    hint = "a valid --api-key" if api_key else "--api-key (or VODSTACK_API_KEY)"
                    raise TargetError(
                        f"{base}{LISTING_PATH} answered HTTP {response.status}: listing videos "
                        f"needs {hint}, or give master playlist URLs instead"
                    )
                if response.status != 200:
                    raise TargetError(
                        f"{base}{LISTING_PATH} answered HTTP {response.status}: {text[:200]}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TargetError(f"cannot list videos at {base}{LISTING_PATH}: {exc}") from None
        try:
            page = json.loads(text)
        except ValueError:
            raise TargetError(f"{base}{LISTING_PATH} did not answer with JSON") from None
        found += playback_urls(page, base)
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return found[:limit]


async def resolve_targets(
    http: aiohttp.ClientSession,
    targets: tuple[str, ...],
    max_videos: int,
    api_key: str | None = None,
) -> list[str]:
    """Master playlist URLs from the targets: playlists as given, API bases listed."""
    masters: list[str] = []
    for target in targets:
        if is_playlist_url(target):
            masters.append(target)
        else:
            masters += await list_ready(http, target, max_videos, api_key)
    if not masters:
        raise TargetError(
            "no ready video found at " + ", ".join(targets)
            + " (give a master playlist URL, or upload a video first)"
        )
    return masters
