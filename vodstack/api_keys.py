"""API keys as pure functions: making one, what is stored of it, checking one.

    vsk_<id>_<secret>      id: 12 hex digits (public, finds the record)
                           secret: 32 random bytes, URL-safe base64

Only the SHA-256 of the whole key is stored. A slow password hash (bcrypt, scrypt) exists
to make guessing low-entropy passwords expensive; a 256-bit random secret cannot be
guessed however fast the hash, so one SHA-256 is enough and keeps every request cheap.
Comparison is constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from vodstack.catalog.apikeys import ApiKeyRecord

PREFIX = "vsk"
_KEY_RE = re.compile(rf"{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})")
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class NewKey:
    key: str
    """Shown once to the user; never stored."""
    record: ApiKeyRecord


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str, now: float | None = None) -> NewKey:
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    clean = " ".join(name.split())[:MAX_NAME_LENGTH] or "unnamed"
    created = time.time() if now is None else now
    return NewKey(key, ApiKeyRecord(key_id, clean, key_hash(key), created))


def key_id_of(key: str) -> str | None:
    """The id part of a well-formed key, None for anything else."""
    match = _KEY_RE.fullmatch(key)
    return match.group(1) if match else None


def matches(key: str, record: ApiKeyRecord) -> bool:
    """Whether `key` is the key `record` was made from (constant-time)."""
    return hmac.compare_digest(key_hash(key), record.hash)


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (RFC 6750 §2.1), None if absent."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
