"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", like Stripe's.

    Vodstack-Signature: t=1714564800,v1=<64 hex digits>

A receiver recomputes the HMAC with the shared secret over the timestamp, a dot and the
raw body, compares in constant time, and refuses timestamps outside its replay window
(default five minutes). Each attempt is signed afresh, so retries pass the window too.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Vodstack-Signature"
DEFAULT_TOLERANCE = 300.0


def compute(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header_value(secret: str, body: bytes, now: float | None = None) -> str:
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={compute(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance` seconds of now."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = compute(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))
