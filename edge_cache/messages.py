"""Header plumbing between client, cache and upstream (pure functions on header pairs)."""

from __future__ import annotations

from collections.abc import Iterable

from edge_cache.fields import format_http_date
from edge_cache.rules import HOP_BY_HOP, SURROGATE_NAME
from vodstack.request_ids import HEADER as REQUEST_ID_HEADER

VIA = "1.1 vodstack-edge"
SURROGATE_CAPABILITY = f'{SURROGATE_NAME}="Surrogate/1.0"'

# Request fields the cache answers itself when it can; they are not forwarded on fetches
# meant to fill the cache (which must get the whole, unconditional representation).
CLIENT_PRECONDITIONS = frozenset({
    "if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range",
})
# Set by the HTTP client for the upstream connection, never copied from the client.
_NOT_FORWARDED = frozenset({"host", "content-length", "expect"})
_REQUEST_ID = frozenset({REQUEST_ID_HEADER.lower()})
# Response fields the cache recomputes or consumes.
_NOT_RELAYED = frozenset({"content-length", "age", "surrogate-control"})

HeaderPairs = list[tuple[str, str]]


def _connection_named(pairs: Iterable[tuple[str, str]]) -> set[str]:
    return {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }


def upstream_request_headers(
    pairs: Iterable[tuple[str, str]],
    *,
    client_ip: str | None,
    scheme: str,
    host: str | None,
    drop: frozenset[str] = frozenset(),
    request_id: str | None = None,
) -> HeaderPairs:
    """The client's request fields as forwarded upstream (RFC 9110 §7.6: hop-by-hop removed,
    Via added) plus X-Forwarded-* and our Surrogate-Capability; `request_id`, when given,
    replaces the client's X-Request-Id."""
    pairs = list(pairs)
    skip = HOP_BY_HOP | _NOT_FORWARDED | _connection_named(pairs) | drop
    if request_id is not None:
        skip = skip | _REQUEST_ID
    out: HeaderPairs = []
    forwarded_for: list[str] = []
    via: list[str] = []
    capability: list[str] = []
    for name, value in pairs:
        lower = name.lower()
        if lower in skip:
            continue
        if lower == "x-forwarded-for":
            forwarded_for.append(value)
        elif lower == "via":
            via.append(value)
        elif lower == "surrogate-capability":
            capability.append(value)
        else:
            out.append((name, value))
    if client_ip:
        forwarded_for.append(client_ip)
    if forwarded_for:
        out.append(("X-Forwarded-For", ", ".join(forwarded_for)))
    out.append(("X-Forwarded-Proto", scheme))
    if host:
        out.append(("X-Forwarded-Host", host))
    out.append(("Via", ", ".join([*via, VIA])))
    out.append(("Surrogate-Capability", ", ".join([*capability, SURROGATE_CAPABILITY])))
    if request_id is not None:
        out.append((REQUEST_ID_HEADER, request_id))
    return out


def split_response_headers(
    pairs: Iterable[tuple[str, str]],
) -> tuple[dict[str, list[str]], HeaderPairs]:
    """(all lines by lower-case name, end-to-end pairs to relay or store).

    The lines still include Age, Surrogate-Control and Content-Length (the rules read them);
    the pairs drop them along with hop-by-hop fields and those named in Connection
    (RFC 9111 §3.1).
    """
    lines: dict[str, list[str]] = {}
    ordered = list(pairs)
    for name, value in ordered:
        lines.setdefault(name.lower(), []).append(value)
    skip = HOP_BY_HOP | _NOT_RELAYED | _connection_named(ordered)
    kept = [(name, value) for name, value in ordered if name.lower() not in skip]
    return lines, kept


def stored_headers(kept: HeaderPairs, response_time: float) -> tuple[tuple[str, str], ...]:
    """Fields to store: the relayed ones, a Date if the upstream sent none (RFC 9110 §6.6.1),
    and our Via."""
    out = list(kept)
    if not any(name.lower() == "date" for name, _ in out):
        out.append(("Date", format_http_date(response_time)))
    return (*with_via(out),)


def with_via(pairs: HeaderPairs) -> HeaderPairs:
    """Append this proxy to the Via field (RFC 9110 §7.6.3)."""
    via = [value for name, value in pairs if name.lower() == "via"]
    out = [(name, value) for name, value in pairs if name.lower() != "via"]
    out.append(("Via", ", ".join([*via, VIA])))
    return out


def lines_of(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for name, value in pairs:
        lines.setdefault(name.lower(), []).append(value)
    return lines


# Fields a 304 answer carries (RFC 9110 §15.4.5).
NOT_MODIFIED_FIELDS = frozenset({
    "cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified", "via",
})


def not_modified_headers(pairs: Iterable[tuple[str, str]]) -> HeaderPairs:
    return [(name, value) for name, value in pairs if name.lower() in NOT_MODIFIED_FIELDS]
