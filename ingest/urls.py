"""Absolute URLs in API answers: the configured public URL, else the one the client used.

Playback and poster links start with the media URL when one is configured: in a
distributed set-up the API and the media are served by different services.

An edge proxy in front of vodstack reports the client's scheme and host in
`X-Forwarded-Proto` / `X-Forwarded-Host`; when a chain of proxies appends to them, the
first value is the client-facing one.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from vodstack import keys

_HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
_SCHEMES = {"http", "https"}


def _first(value: str | None) -> str:
    return (value or "").split(",", 1)[0].strip()


def base_url(
    public_url: str | None,
    *,
    scheme: str,
    host: str,
    forwarded_proto: str | None = None,
    forwarded_host: str | None = None,
) -> str:
    """Base URL (no trailing slash) that links in an answer start with.

    Forwarded values that are not a plain scheme or host are ignored rather than echoed.
    """
    if public_url:
        return public_url.rstrip("/")
    proto = _first(forwarded_proto).lower()
    if proto not in _SCHEMES:
        proto = scheme if scheme in _SCHEMES else "http"
    forwarded = _first(forwarded_host)
    chosen_host = forwarded if _HOST_RE.fullmatch(forwarded) else host
    if not _HOST_RE.fullmatch(chosen_host):
        chosen_host = "localhost"
    return f"{proto}://{chosen_host}"


def media_base_url(media_url: str | None, api_base: str) -> str:
    """Base URL of playback and poster links: where media are served (an edge in a
    distributed set-up), else the API's own base, which serves them in `vodstack serve`."""
    return media_url.rstrip("/") if media_url else api_base


def status_url(base: str, video_id: str) -> str:
    return f"{base}/v1/videos/{video_id}"


def playback_url(base: str, video_id: str) -> str:
    return base + keys.playback_path(video_id)


def poster_url(base: str, video_id: str, version: str) -> str:
    return base + keys.media_path_for_key(keys.poster_key(video_id, version))


def list_url(base: str, *, limit: int, cursor: str, status: str | None) -> str:
    query: dict[str, str] = {"limit": str(limit), "cursor": cursor}
    if status:
        query["status"] = status
    return f"{base}/v1/videos?{urlencode(query)}"
