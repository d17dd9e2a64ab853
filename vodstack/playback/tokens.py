"""Playback tokens: HMAC-SHA256 over a video id and an expiry, like CloudFront or Mux
signed URLs.

    token = "<expires>.<base64url(HMAC-SHA256(secret, "<video_id>.<expires>"))>"

A token opens every object of one video until `expires` (Unix seconds); it cannot be
moved to another video or have its expiry changed without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from enum import Enum

QUERY_PARAMETER = "token"
_TOKEN_RE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


class TokenProblem(Enum):
    MISSING = "no playback token: this video needs a signed URL (?token=...)"
    MALFORMED = "the playback token is malformed"
    EXPIRED = "the playback token has expired; ask the API for a fresh URL"
    FORGED = "the playback token is not valid for this video"


def _mac(secret: str, video_id: str, expires: int) -> str:
    digest = hmac.new(secret.encode(), f"{video_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: str, video_id: str, expires: int) -> str:
    return f"{expires}.{_mac(secret, video_id, expires)}"


def token_for(secret: str, video_id: str, ttl: float, now: float | None = None) -> str:
    moment = time.time() if now is None else now
    return sign(secret, video_id, int(moment + ttl))


def check(secret: str, video_id: str, token: str | None, now: float | None = None) -> (
    TokenProblem | None
):
    """None when `token` opens `video_id` now; else what is wrong with it."""
    if not token:
        return TokenProblem.MISSING
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        return TokenProblem.MALFORMED
    expires = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _mac(secret, video_id, expires)):
        return TokenProblem.FORGED
    if expires < (time.time() if now is None else now):
        return TokenProblem.EXPIRED
    return None
