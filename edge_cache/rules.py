"""RFC 9111 shared-cache rules as pure functions: no I/O, no clock of their own.

The proxy gathers facts (status, header lines, times) and asks these functions what to do:
may this response be stored (§3), how long is it fresh (§4.2.1, §4.2.2), how old is it
(§4.2.3), may a stored response answer this request as it is, after validation, or stale
(§4.2.4, §5.2, RFC 5861), and which stored headers a 304 replaces (§3.2, §4.3.4).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from edge_cache.fields import (
    INVALID,
    Directives,
    delta_seconds,
    parse_age,
    parse_directives,
    parse_http_date,
    parse_surrogate_control,
    parse_vary,
    single_value,
)

HeaderLines = Mapping[str, list[str]]
"""Header lines by lower-case field name, in arrival order."""

SURROGATE_NAME = "vodstack-edge"

# RFC 9110 §9.2.1: methods defined as safe; every other method is unsafe (RFC 9111 §4.4).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CACHEABLE_METHODS = frozenset({"GET", "HEAD"})

# RFC 9110 §15.1: status codes heuristically cacheable (usable without explicit freshness).
# 206 is among them, but this cache does not store partial responses (see docs/decisions.md).
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# Final status codes this cache understands (for `must-understand`, RFC 9111 §5.2.2.3).
UNDERSTOOD_STATUS = frozenset({
    200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 304, 305, 307, 308,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
    421, 422, 426, 500, 501, 502, 503, 504, 505,
})

# RFC 9111 §4.2.2: a typical heuristic is 10% of the time since Last-Modified; capped.
HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX = 86400.0

# RFC 9110 §7.6.1 and RFC 9111 §3.1: fields a proxy never stores or forwards.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
    "upgrade", "proxy-authenticate", "proxy-authorization", "proxy-authentication-info",
})
# Fields a 304 must not replace in the stored response (RFC 9111 §3.2: fields the stored
# content depends on, plus Content-Length).
NOT_UPDATED_BY_304 = frozenset({
    "content-length", "content-encoding", "content-range", "content-md5", "etag",
    "transfer-encoding",
})
# Upstream 5xx answers that count as errors for stale-if-error (RFC 5861 §4).
ERROR_STATUSES = frozenset({500, 502, 503, 504})


def hop_by_hop(lines: HeaderLines) -> frozenset[str]:
    """Hop-by-hop fields of one message: the fixed set plus those named in Connection."""
    named = {
        token.strip().lower()
        for line in lines.get("connection", [])
        for token in line.split(",")
        if token.strip()
    }
    return HOP_BY_HOP | named


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the rules need to know about a client request."""

    method: str
    directives: Directives = field(default_factory=dict)
    has_authorization: bool = False

    @classmethod
    def from_lines(cls, method: str, lines: HeaderLines) -> RequestFacts:
        return cls(
            method=method.upper(),
            directives=parse_directives(lines.get("cache-control", [])),
            has_authorization=bool(lines.get("authorization")),
        )


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """A response's caching facts, computed once when it is received or updated."""

    status: int
    directives: Directives
    surrogate: Directives
    lifetime: float
    """Freshness lifetime in seconds (§4.2.1); 0 when it has none or it is invalid."""
    heuristic: bool
    initial_age: float
    """corrected_initial_age of §4.2.3; infinite when the Age field is invalid."""
    response_time: float
    etag: str | None
    last_modified: str | None
    last_modified_time: float | None
    date_time: float | None
    vary: tuple[str, ...] | None
    """Selecting field names; None for `Vary: *` (never matches)."""

    def current_age(self, now: float) -> float:
        """RFC 9111 §4.2.3: corrected_initial_age + resident_time."""
        return self.initial_age + max(0.0, now - self.response_time)

    def staleness(self, now: float) -> float:
        """Seconds past the freshness lifetime (negative while fresh)."""
        return self.current_age(now) - self.lifetime

    @property
    def has_validator(self) -> bool:
        return self.etag is not None or self.last_modified is not None

    @property
    def no_cache(self) -> bool:
        return "no-cache" in self.directives

    @property
    def must_revalidate(self) -> bool:
        """Stale use is forbidden (§5.2.2.2, §5.2.2.8, and s-maxage per §5.2.2.10)."""
        d = self.directives
        return (
            "must-revalidate" in d or "proxy-revalidate" in d or "s-maxage" in d
            or "no-cache" in d
        )

    @property
    def stale_while_revalidate(self) -> float:
        return _window(self.directives.get("stale-while-revalidate"))

    @property
    def stale_if_error(self) -> float:
        return _window(self.directives.get("stale-if-error"))

    @property
    def usable_with_authorization(self) -> bool:
        """RFC 9111 §3.5: directives that let a shared cache reuse it for authorised requests."""
        d = self.directives
        return "public" in d or "s-maxage" in d or "must-revalidate" in d


def _window(value: str | None) -> float:
    seconds = delta_seconds(value)
    return float(seconds) if seconds is not None else 0.0


def analyse_response(
    status: int,
    lines: HeaderLines,
    *,
    request_time: float,
    response_time: float,
) -> ResponseFacts:
    """Facts of a response received at `response_time` for a request sent at `request_time`."""
    directives = parse_directives(lines.get("cache-control", []))
    surrogate = parse_surrogate_control(lines.get("surrogate-control", []), SURROGATE_NAME)
    date_time = parse_http_date(single_value(lines.get("date", [])))
    last_modified = single_value(lines.get("last-modified", []))
    last_modified_time = parse_http_date(last_modified)
    lifetime, heuristic = freshness_lifetime(
        status, directives, surrogate, lines,
        date_time=date_time, last_modified_time=last_modified_time, response_time=response_time,
    )
    return ResponseFacts(
        status=status,
        directives=directives,
        surrogate=surrogate,
        lifetime=lifetime,
        heuristic=heuristic,
        initial_age=initial_age(
            parse_age(lines.get("age", [])), date_time,
            request_time=request_time, response_time=response_time,
        ),
        response_time=response_time,
        etag=single_value(lines.get("etag", [])),
        last_modified=last_modified if last_modified_time is not None else None,
        last_modified_time=last_modified_time,
        date_time=date_time,
        vary=parse_vary(lines.get("vary", [])),
    )


def freshness_lifetime(
    status: int,
    directives: Directives,
    surrogate: Directives,
    lines: HeaderLines,
    *,
    date_time: float | None,
    last_modified_time: float | None,
    response_time: float,
) -> tuple[float, bool]:
    """(lifetime seconds, heuristic?) per RFC 9111 §4.2.1, for a shared cache.

    Order: Surrogate-Control max-age (aimed at surrogates, it overrides Cache-Control), then
    s-maxage, max-age, Expires - Date; a present but malformed value means stale (0). Only
    without any of these may a heuristic apply (§4.2.2).
    """
    for source, name in ((surrogate, "max-age"), (directives, "s-maxage"), (directives, "max-age")):
        if name in source:
            seconds = delta_seconds(source[name]) if source[name] != INVALID else None
            return (float(seconds) if seconds is not None else 0.0), False
    expires_lines = lines.get("expires", [])
    if expires_lines:
        expires = parse_http_date(single_value(expires_lines))
        if expires is None:
            return 0.0, False  # §5.3: an invalid Expires (e.g. "0") means already expired
        date = date_time if date_time is not None else response_time
        return max(0.0, expires - date), False
    if heuristic_allowed(status, directives) and last_modified_time is not None:
        date = date_time if date_time is not None else response_time
        age_at_date = max(0.0, date - last_modified_time)
        return min(HEURISTIC_MAX, age_at_date * HEURISTIC_FRACTION), True
    return 0.0, False


def heuristic_allowed(status: int, directives: Directives) -> bool:
    """RFC 9111 §4.2.2: heuristics only for heuristically cacheable statuses or `public`."""
    return status in HEURISTICALLY_CACHEABLE or "public" in directives


def initial_age(
    age_value: int | None, date_time: float | None, *, request_time: float, response_time: float
) -> float:
    """corrected_initial_age (RFC 9111 §4.2.3); infinite for an invalid Age (seen as stale)."""
    if age_value is not None and age_value < 0:
        return float("inf")
    apparent_age = max(0.0, response_time - date_time) if date_time is not None else 0.0
    response_delay = max(0.0, response_time - request_time)
    corrected_age_value = (age_value or 0) + response_delay
    return max(apparent_age, corrected_age_value)


def is_storable(request: RequestFacts, response: ResponseFacts) -> bool:
    """RFC 9111 §3 (and §3.5 for authorised requests) for a shared cache."""
    if request.method not in CACHEABLE_METHODS or request.method == "HEAD":
        return False  # HEAD answers carry no content to store; they pass through
    status = response.status
    if status < 200 or status in (206, 304):
        return False
    d, s = response.directives, response.surrogate
    if "no-store" in s:
        return False
    surrogate_fresh = "max-age" in s  # Surrogate-Control overrides Cache-Control for us
    if not surrogate_fresh and ("no-store" in d or "no-store" in request.directives):
        return False
    if "must-understand" in d and status not in UNDERSTOOD_STATUS:
        return False
    if "private" in d and not surrogate_fresh:
        return False  # §5.2.2.7: a shared cache never stores private responses
    if request.has_authorization and not response.usable_with_authorization:
        return False
    if response.lifetime <= 0 and not response.has_validator:
        return False  # could never be reused: storing it would only evict useful entries
    return (
        surrogate_fresh or "public" in d or "s-maxage" in d or "max-age" in d
        or (response.lifetime > 0 and not response.heuristic)
        or status in HEURISTICALLY_CACHEABLE
        or "no-cache" in d
    )


def forbids_storing(response: ResponseFacts) -> bool:
    """The response itself forbids a shared cache to store it: `no-store` (§5.2.2.5) or
    `private` (§5.2.2.7), unless Surrogate-Control gives this cache a lifetime."""
    d, s = response.directives, response.surrogate
    if "no-store" in s:
        return True
    if "max-age" in s:
        return False
    return "no-store" in d or "private" in d


class Use(enum.Enum):
    """What to do with a stored response for a request (RFC 9111 §4)."""

    FRESH = "fresh"
    """Send it as it is."""
    STALE = "stale"
    """Send it stale: the client allowed it with max-stale (§5.2.1.2)."""
    STALE_WHILE_REVALIDATE = "swr"
    """Send it stale and refresh it in the background (RFC 5861 §3)."""
    REVALIDATE = "revalidate"
    """Ask the upstream with a conditional request first (§4.3.1)."""
    FETCH = "fetch"
    """It cannot be used (stale and no validator): fetch anew."""


def decide(
    response: ResponseFacts,
    request: RequestFacts,
    now: float,
    *,
    validator_required: bool = False,
) -> Use:
    """May `response` answer `request` at `now`, and how? (RFC 9111 §4, §5.2.1, RFC 5861).

    `validator_required` is set for authorised requests on responses stored with
    `must-revalidate` (§3.5: reuse only after validation).
    """
    req = request.directives
    age = response.current_age(now)
    staleness = age - response.lifetime
    fresh = staleness < 0
    needs_validation = response.no_cache or "no-cache" in req or validator_required
    if not needs_validation and "max-age" in req:
        limit = delta_seconds(req["max-age"])
        needs_validation = limit is None or age > limit  # §5.2.1.1
    if not needs_validation and "min-fresh" in req:
        extra = delta_seconds(req["min-fresh"])
        needs_validation = extra is None or response.lifetime - age < extra  # §5.2.1.3
    if not needs_validation and fresh:
        return Use.FRESH
    if not needs_validation and not response.must_revalidate:
        if "max-stale" in req:  # §5.2.1.2: no value means any staleness
            allowed = req["max-stale"]
            limit = delta_seconds(allowed) if allowed is not None else None
            if allowed is None or (limit is not None and staleness <= limit):
                return Use.STALE
        window = response.stale_while_revalidate
        if window > 0 and staleness <= window and response.has_validator:
            return Use.STALE_WHILE_REVALIDATE
    return Use.REVALIDATE if response.has_validator else Use.FETCH


def may_serve_stale_on_error(
    response: ResponseFacts,
    request: RequestFacts,
    now: float,
    default_window: float,
) -> bool:
    """stale-if-error (RFC 5861 §4) from the response or request, or the configured window for
    a disconnected cache (RFC 9111 §4.2.4), never against must-revalidate & co."""
    if response.must_revalidate:
        return False
    staleness = response.staleness(now)
    windows = [response.stale_if_error, default_window]
    req_window = request.directives.get("stale-if-error")
    if req_window is not None:
        windows.append(_window(req_window))
    return staleness <= max(windows)


def selecting_fields_match(
    vary: tuple[str, ...] | None,
    stored: Mapping[str, str | None],
    presented: Mapping[str, str | None],
) -> bool:
    """RFC 9111 §4.1: each selecting field is absent in both or equal after normalisation."""
    if vary is None:
        return False
    return all(stored.get(name) == presented.get(name) for name in vary)


def updated_headers(
    stored: list[tuple[str, str]], fresh: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Stored header lines after a 304 or HEAD update (RFC 9111 §3.2, §4.3.4).

    Each field present in the new response replaces all stored lines of that field, except
    the fields the stored content depends on; hop-by-hop fields are expected to be removed
    from `fresh` already.
    """
    replaced = {name.lower() for name, _ in fresh} - NOT_UPDATED_BY_304
    kept = [(name, value) for name, value in stored if name.lower() not in replaced]
    added = [(name, value) for name, value in fresh if name.lower() in replaced]
    return kept + added


def invalidates(method: str, status: int) -> bool:
    """RFC 9111 §4.4: an unsafe request with a non-error answer invalidates the target URI."""
    return method.upper() not in SAFE_METHODS and 200 <= status < 400
