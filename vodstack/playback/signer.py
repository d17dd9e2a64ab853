"""Signing the playback links the API hands out, when signed playback is on."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from vodstack.playback.playlists import with_token
from vodstack.playback.tokens import token_for
from vodstack.settings import Settings

UrlSigner = Callable[[str, str], str]
"""(video_id, url) → the url carrying a token for that video."""


def url_signer(settings: Settings) -> UrlSigner | None:
    """None when playback is not signed (links are handed out as they are)."""
    secret = settings.playback_secret
    if secret is None:
        return None
    ttl = settings.playback_token_ttl

    def sign(video_id: str, url: str) -> str:
        parts = urlsplit(url)
        reference = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
        signed = with_token(reference, token_for(secret, video_id, ttl))
        return urlunsplit((parts.scheme, parts.netloc, "", "", "")) + signed

    return sign


def unsigned(video_id: str, url: str) -> str:
    return url
