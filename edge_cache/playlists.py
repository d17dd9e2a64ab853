"""Reading HLS playlists just enough to warm a cache: which URIs a playlist points to (pure)."""

from __future__ import annotations

import re

from yarl import URL

_URI_ATTR_RE = re.compile(r'URI="([^"]*)"')


def is_master(text: str) -> bool:
    return "#EXT-X-STREAM-INF" in text


def referenced_uris(text: str) -> tuple[list[str], list[str]]:
    """(URIs in tag attributes such as EXT-X-MAP / EXT-X-MEDIA, plain URI lines) in order."""
    attributes: list[str] = []
    plain: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith(("#EXT-X-MAP", "#EXT-X-MEDIA", "#EXT-X-I-FRAME-STREAM-INF")):
                attributes.extend(_URI_ATTR_RE.findall(line))
            continue
        plain.append(line)
    return attributes, plain


def resolve(base_path: str, uri: str) -> str | None:
    """`uri` relative to the playlist at `base_path`, as path + query; None for other hosts."""
    try:
        target = URL(uri)
    except ValueError:
        return None
    if target.is_absolute():
        return None  # only same-origin references are warmed
    return URL("http://edge" + base_path).join(target).raw_path_qs


def warm_targets(base_path: str, text: str, segments: int) -> list[str]:
    """Paths to warm from one playlist.

    A master playlist yields its media playlists (to be expanded in turn); a media playlist
    yields its init segment(s) and its first `segments` media segments.
    """
    attributes, plain = referenced_uris(text)
    # A master lists media playlists; a media playlist its init segment, then segments.
    uris = [*plain, *attributes] if is_master(text) else [*attributes, *plain[: max(0, segments)]]
    out: list[str] = []
    for uri in uris:
        path = resolve(base_path, uri)
        if path is not None and path not in out:
            out.append(path)
    return out
