"""HTTP policy for pages and static assets, as pure functions: headers, CSP, encodings."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from origin.validators import is_any, parse_entity_tag, parse_entity_tag_list

# Pages embed the asset version, so a page must never outlive a deploy in a cache.
PAGE_CACHE_CONTROL = "no-store"
# Asset URLs carry the bundle version: the bytes behind one URL never change.
VERSIONED_ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
# An asset asked for under another version (a page from before a restart): current bytes,
# but revalidated every time so it is never stuck under the wrong name.
STALE_VERSION_CACHE_CONTROL = "no-cache"

_ACCEPT_ENCODING_ITEM_RE = re.compile(
    r"\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*(?:;\s*q\s*=\s*([0-9](?:\.[0-9]{0,3})?))?\s*"
)


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or "@" in parts.netloc:
        return None
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def content_security_policy(media_origins: Iterable[str] = ()) -> str:
    """Self only: no inline script or style, nothing from other sites.

    `blob:` is how Media Source Extensions attach a stream to `<video>` and how hls.js
    starts its transmuxing worker from its own bundled code; `media_origins` are where
    `playback_url` and `poster_url` may point besides this origin (the configured public
    URL).
    """
    extra = "".join(f" {origin}" for origin in dict.fromkeys(media_origins))
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self'{extra}",
        f"media-src 'self' blob:{extra}",
        f"connect-src 'self'{extra}",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
    return "; ".join(directives)


def page_headers(csp: str) -> dict[str, str]:
    return {
        "Cache-Control": PAGE_CACHE_CONTROL,
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `gzip` is acceptable (RFC 9110 §12.5.3): listed, or `*`, with q > 0."""
    if not accept_encoding:
        return False
    gzip_q: float | None = None
    any_q: float | None = None
    for item in accept_encoding.split(","):
        match = _ACCEPT_ENCODING_ITEM_RE.fullmatch(item)
        if match is None:
            continue
        coding = match.group(1).lower()
        quality = float(match.group(2)) if match.group(2) is not None else 1.0
        if coding in {"gzip", "x-gzip"}:
            gzip_q = quality
        elif coding == "*":
            any_q = quality
    chosen = gzip_q if gzip_q is not None else any_q
    return chosen is not None and chosen > 0


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match with weak comparison (RFC 9110 §13.1.2): true means answer 304."""
    if if_none_match is None:
        return False
    if is_any(if_none_match):
        return True
    current = parse_entity_tag(etag)
    if current is None:
        return False
    return any(tag.weak_match(current) for tag in parse_entity_tag_list(if_none_match))
