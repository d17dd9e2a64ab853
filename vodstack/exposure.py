"""Where a service may listen: without API keys, `serve` only on loopback (pure policy)."""

from __future__ import annotations

import ipaddress

from vodstack.settings import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: cannot be sure it is local


def exposure_problem(settings: Settings) -> str | None:
    """Why listening on `settings.host` is refused, or None when it is fine."""
    if settings.require_api_key or settings.insecure_open or is_loopback(settings.host):
        return None
    return (
        f"refusing to listen on {settings.host!r} without API keys: anyone who can reach it "
        "could upload and delete videos. Require keys (VODSTACK_REQUIRE_API_KEY=true, then "
        "`vodstack keys create`), listen on 127.0.0.1, or accept the risk with "
        "--insecure-open (VODSTACK_INSECURE_OPEN=true)."
    )


def exposure_notice(settings: Settings) -> str:
    """One start-up line saying how the API is protected."""
    if settings.require_api_key:
        reads = "key holders only" if settings.api_reads == "key" else "public"
        return f"API keys required for changes (reads: {reads})"
    if is_loopback(settings.host):
        return (
            "API keys not required: listening on loopback only "
            "(set VODSTACK_REQUIRE_API_KEY=true to serve other machines)"
        )
    return (
        f"WARNING: API keys not required and listening on {settings.host}: anyone who can "
        "reach it may upload and delete videos (set VODSTACK_REQUIRE_API_KEY=true)"
    )
