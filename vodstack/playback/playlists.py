"""Carrying a playback token into an HLS playlist (RFC 8216), as a pure text rewrite.

Every URI a player will fetch next — media playlists in a master (URI lines, `URI=`
attributes of EXT-X-MEDIA / EXT-X-I-FRAME-STREAM-INF), the init segment (EXT-X-MAP) and
segments in a media playlist — gets `token=<token>` in its query, replacing any token it
had. Relative URIs stay relative; absolute URLs pointing elsewhere are left alone, so a
token is never handed to another host.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vodstack.playback.tokens import QUERY_PARAMETER

_URI_ATTRIBUTE_RE = re.compile(r'URI="([^"]*)"')


def with_token(uri: str, token: str) -> str:
    """`uri` with its `token` query parameter set (relative references only)."""
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc:
        return uri
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != QUERY_PARAMETER]
    query.append((QUERY_PARAMETER, token))
    return urlunsplit(("", "", parts.path, urlencode(query, safe="."), parts.fragment))


def sign_playlist(text: str, token: str) -> str:
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        stripped = body.strip()
        if not stripped:
            lines.append(line)
        elif stripped.startswith("#"):
            rewritten = _URI_ATTRIBUTE_RE.sub(
                lambda m: f'URI="{with_token(m.group(1), token)}"', body
            )
            lines.append(rewritten + ending)
        else:
            lines.append(with_token(stripped, token) + ending)
    return "".join(lines)


def private_cache_control(value: str) -> str:
    """Cache-Control for a playlist carrying one viewer's token: the same freshness, but
    `private` (RFC 9111 §5.2.2.7) instead of `public` / `s-maxage`, so no shared cache (a
    CDN set to ignore query strings, say) hands it to another viewer."""
    directives = [part.strip() for part in value.split(",") if part.strip()]
    kept = [
        d for d in directives
        if d.lower() not in {"public", "private"} and not d.lower().startswith("s-maxage")
    ]
    return ", ".join(["private", *kept])
