"""RFC 9111 shared-cache rules (edge_cache.rules, edge_cache.fields): pure, no servers."""

from __future__ import annotations

import math

import pytest

from edge_cache.conditional import Answer, Validators, evaluate, parse_range
from edge_cache.fields import (
    format_http_date,
    parse_age,
    parse_directives,
    parse_http_date,
    parse_surrogate_control,
    parse_vary,
)
from edge_cache.rules import (
    RequestFacts,
    ResponseFacts,
    Use,
    analyse_response,
    decide,
    hop_by_hop,
    invalidates,
    is_storable,
    may_serve_stale_on_error,
    selecting_fields_match,
    updated_headers,
)

NOW = 1_800_000_000.0
GET = RequestFacts("GET")


def response(status: int = 200, *, now: float = NOW, delay: float = 0.0, **fields: str | list[str]
             ) -> ResponseFacts:
    """Facts of a response received at `now` (request sent `delay` seconds earlier)."""
    lines = {
        name.replace("_", "-").lower(): value if isinstance(value, list) else [value]
        for name, value in fields.items()
    }
    lines.setdefault("date", [format_http_date(now)])
    return analyse_response(status, lines, request_time=now - delay, response_time=now)


def request(method: str = "GET", cache_control: str | None = None, auth: bool = False
            ) -> RequestFacts:
    lines = {"cache-control": [cache_control]} if cache_control else {}
    if auth:
        lines["authorization"] = ["Bearer x"]
    return RequestFacts.from_lines(method, lines)


# ------------------------------------------------------------------ parsing


def test_cache_control_parsing_is_case_insensitive_and_keeps_quoted_commas() -> None:
    """RFC 9111 §5.2: directive names are case-insensitive; RFC 9110 §5.6.4 quoted strings
    may contain commas, which do not separate directives."""
    parsed = parse_directives(['MaX-AgE=60, private="a, max-age=9", no-cache'])
    assert parsed == {"max-age": "60", "private": "a, max-age=9", "no-cache": None}


def test_first_directive_wins_and_malformed_arguments_are_marked() -> None:
    """RFC 9111 §4.2.1: with duplicate directives the first may be used; §1.2.2 a malformed
    delta-seconds is not a freshness lifetime (treated as stale)."""
    assert parse_directives(["max-age=5", "max-age=100"])["max-age"] == "5"
    facts = response(cache_control="max-age='3600'")
    assert facts.lifetime == 0


def test_http_date_accepts_the_three_formats_and_rejects_garbage() -> None:
    """RFC 9110 §5.6.7: recipients accept IMF-fixdate, RFC 850 and asctime forms."""
    imf = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    assert imf == 784111777
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == imf
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == imf
    assert parse_http_date("0") is None
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC") is None


@pytest.mark.parametrize(
    ("lines", "expected"),
    [([], None), (["120"], 120), (["abc"], -1), (["-5"], -1), (["1.5"], -1),
     (["0, 0"], -1), (["0", "0"], -1), (["99999999999"], 2**31)],
)
def test_age_field_parsing(lines: list[str], expected: int | None) -> None:
    """RFC 9111 §5.1: Age is a single delta-seconds; anything else is invalid (-1 → stale);
    §1.2.2 caps an overlarge value at 2^31."""
    assert parse_age(lines) == expected


def test_vary_star_and_names() -> None:
    """RFC 9110 §12.5.5: `*` means the response varies on more than request fields."""
    assert parse_vary(["Accept-Encoding, accept-language", "X-Foo"]) == (
        "accept-encoding", "accept-language", "x-foo"
    )
    assert parse_vary(["Foo, *"]) is None
    assert parse_vary([]) == ()


def test_surrogate_control_targeting() -> None:
    """W3C Edge Architecture: `directive;target` applies only to the named surrogate."""
    assert parse_surrogate_control(["max-age=60;vodstack-edge"], "vodstack-edge") == {
        "max-age": "60"
    }
    assert parse_surrogate_control(["max-age=60;other"], "vodstack-edge") == {}


# ------------------------------------------------------------------ freshness


def test_s_maxage_beats_max_age_beats_expires() -> None:
    """RFC 9111 §4.2.1: a shared cache uses s-maxage, then max-age, then Expires - Date."""
    assert response(cache_control="max-age=600, s-maxage=60").lifetime == 60
    assert response(cache_control="max-age=600", expires=format_http_date(NOW + 10)).lifetime == 600
    assert response(expires=format_http_date(NOW + 10)).lifetime == 10


def test_invalid_expires_means_already_expired() -> None:
    """RFC 9111 §5.3: an invalid Expires (such as "0") represents a time in the past."""
    facts = response(expires="0")
    assert facts.lifetime == 0 and not facts.heuristic


def test_surrogate_max_age_overrides_cache_control() -> None:
    """Surrogate-Control max-age is meant for surrogates and overrides Cache-Control."""
    facts = response(cache_control="max-age=3600", surrogate_control="max-age=5")
    assert facts.lifetime == 5


def test_heuristic_freshness_is_ten_percent_of_last_modified_age() -> None:
    """RFC 9111 §4.2.2: heuristics only without explicit freshness, e.g. 10% of the time
    since Last-Modified."""
    facts = response(last_modified=format_http_date(NOW - 1000))
    assert facts.heuristic and facts.lifetime == pytest.approx(100)
    explicit = response(cache_control="max-age=0", last_modified=format_http_date(NOW - 1000))
    assert not explicit.heuristic and explicit.lifetime == 0


@pytest.mark.parametrize("status", [201, 202, 403, 502, 503, 504, 599])
def test_no_heuristics_for_statuses_not_heuristically_cacheable(status: int) -> None:
    """RFC 9110 §15.1 / RFC 9111 §4.2.2: only heuristically cacheable statuses (or `public`)."""
    facts = response(status, last_modified=format_http_date(NOW - 1000))
    assert facts.lifetime == 0
    public = response(status, cache_control="public", last_modified=format_http_date(NOW - 1000))
    assert public.lifetime == pytest.approx(100)


def test_age_calculation() -> None:
    """RFC 9111 §4.2.3: corrected_initial_age = max(apparent_age, Age + response_delay), and
    current_age adds the resident time."""
    facts = response(
        age="30", delay=2.0, date=format_http_date(NOW - 10), cache_control="max-age=60"
    )
    assert facts.initial_age == pytest.approx(32)
    assert facts.current_age(NOW + 5) == pytest.approx(37)
    older_date = response(age="3", date=format_http_date(NOW - 50), cache_control="max-age=60")
    assert older_date.initial_age == pytest.approx(50)


def test_invalid_age_makes_the_response_stale() -> None:
    """RFC 9111 §4.2.1: caches are encouraged to treat invalid freshness information as stale."""
    facts = response(age="abc", cache_control="max-age=3600")
    assert math.isinf(facts.initial_age)
    assert decide(facts, GET, NOW) is Use.FETCH


# ------------------------------------------------------------------ storability


def test_storable_responses() -> None:
    """RFC 9111 §3: GET, final status, no no-store/private, explicit freshness or a
    heuristically cacheable status with something to reuse."""
    assert is_storable(GET, response(cache_control="max-age=60"))
    assert is_storable(GET, response(404, cache_control="max-age=2"))
    assert not is_storable(GET, response(cache_control="no-store, max-age=60"))
    assert not is_storable(GET, response(cache_control="private, max-age=60"))
    assert not is_storable(request("HEAD"), response(cache_control="max-age=60"))
    assert not is_storable(request("POST"), response(cache_control="max-age=60"))
    assert not is_storable(GET, response(206, cache_control="max-age=60"))


def test_request_no_store_prevents_storing() -> None:
    """RFC 9111 §5.2.1.5: no-store in a request: do not store the response to it."""
    assert not is_storable(request(cache_control="no-store"), response(cache_control="max-age=60"))


def test_no_cache_responses_are_stored_but_always_revalidated() -> None:
    """RFC 9111 §5.2.2.4: no-cache allows storing but not reuse without validation."""
    facts = response(cache_control="no-cache, max-age=3600", etag='"a"')
    assert is_storable(GET, facts)
    assert decide(facts, GET, NOW + 1) is Use.REVALIDATE


def test_must_understand_with_unknown_status_is_not_stored() -> None:
    """RFC 9111 §5.2.2.3: must-understand limits storing to understood status codes."""
    assert not is_storable(GET, response(599, cache_control="max-age=60, must-understand"))
    assert is_storable(GET, response(200, cache_control="max-age=60, must-understand"))


@pytest.mark.parametrize(
    ("cache_control", "storable"),
    [("max-age=60", False), ("public, max-age=60", True), ("s-maxage=60", True),
     ("max-age=60, must-revalidate", True)],
)
def test_authorization_needs_an_explicit_permission(cache_control: str, storable: bool) -> None:
    """RFC 9111 §3.5: a shared cache stores answers to authorised requests only with public,
    s-maxage or must-revalidate."""
    facts = response(cache_control=cache_control)
    assert is_storable(request(auth=True), facts) is storable
    assert facts.usable_with_authorization is storable


def test_nothing_reusable_is_not_stored() -> None:
    """RFC 9111 §3 allows storing, but a response with no freshness and no validator could
    never be reused (§4), so it is not worth the space."""
    assert not is_storable(GET, response())
    assert is_storable(GET, response(etag='"x"'))


# ------------------------------------------------------------------ reuse decisions


def test_fresh_then_stale() -> None:
    """RFC 9111 §4.2: fresh while current_age < freshness_lifetime."""
    facts = response(cache_control="max-age=10", etag='"a"')
    assert decide(facts, GET, NOW + 9) is Use.FRESH
    assert decide(facts, GET, NOW + 10) is Use.REVALIDATE
    no_validator = response(cache_control="max-age=10")
    assert decide(no_validator, GET, NOW + 11) is Use.FETCH


def test_request_max_age_min_fresh_and_no_cache() -> None:
    """RFC 9111 §5.2.1.1 max-age, §5.2.1.3 min-fresh, §5.2.1.4 no-cache in requests."""
    facts = response(cache_control="max-age=100", etag='"a"')
    assert decide(facts, request(cache_control="max-age=5"), NOW + 10) is Use.REVALIDATE
    assert decide(facts, request(cache_control="max-age=50"), NOW + 10) is Use.FRESH
    assert decide(facts, request(cache_control="min-fresh=95"), NOW + 10) is Use.REVALIDATE
    assert decide(facts, request(cache_control="no-cache"), NOW + 1) is Use.REVALIDATE


def test_max_stale_allows_stale_unless_must_revalidate() -> None:
    """RFC 9111 §5.2.1.2 max-stale; §5.2.2.2 must-revalidate forbids stale use."""
    facts = response(cache_control="max-age=10")
    assert decide(facts, request(cache_control="max-stale=20"), NOW + 25) is Use.STALE
    assert decide(facts, request(cache_control="max-stale=5"), NOW + 25) is Use.FETCH
    assert decide(facts, request(cache_control="max-stale"), NOW + 9999) is Use.STALE
    strict = response(cache_control="max-age=10, must-revalidate")
    assert decide(strict, request(cache_control="max-stale"), NOW + 25) is Use.FETCH


def test_stale_while_revalidate_window() -> None:
    """RFC 5861 §3: serve stale for up to N seconds while revalidating in the background."""
    facts = response(cache_control="max-age=10, stale-while-revalidate=30", etag='"a"')
    assert decide(facts, GET, NOW + 20) is Use.STALE_WHILE_REVALIDATE
    assert decide(facts, GET, NOW + 41) is Use.REVALIDATE
    s_maxage = response(cache_control="s-maxage=10, stale-while-revalidate=30", etag='"a"')
    assert decide(s_maxage, GET, NOW + 20) is Use.REVALIDATE  # §5.2.2.10 no stale use


def test_stale_if_error_windows() -> None:
    """RFC 5861 §4 stale-if-error (response or request), RFC 9111 §4.2.4 a configured window
    while disconnected; never with must-revalidate (§5.2.2.2)."""
    facts = response(cache_control="max-age=10, stale-if-error=100")
    assert may_serve_stale_on_error(facts, GET, NOW + 100, default_window=0)
    assert not may_serve_stale_on_error(facts, GET, NOW + 120, default_window=0)
    bare = response(cache_control="max-age=10")
    assert may_serve_stale_on_error(bare, GET, NOW + 50, default_window=60)
    assert may_serve_stale_on_error(
        bare, request(cache_control="stale-if-error=500"), NOW + 400, default_window=0
    )
    strict = response(cache_control="max-age=10, must-revalidate, stale-if-error=100")
    assert not may_serve_stale_on_error(strict, GET, NOW + 20, default_window=60)


def test_vary_matching() -> None:
    """RFC 9111 §4.1: selecting fields absent in both or equal; `Vary: *` never matches."""
    vary = ("accept-encoding",)
    assert selecting_fields_match(vary, {"accept-encoding": "gzip"}, {"accept-encoding": "gzip"})
    assert not selecting_fields_match(vary, {"accept-encoding": "gzip"}, {})
    assert selecting_fields_match(vary, {}, {})
    assert not selecting_fields_match(None, {}, {})


def test_updating_stored_headers_from_a_304() -> None:
    """RFC 9111 §3.2 / §4.3.4: fields in the 304 replace stored ones, except those the
    stored content depends on (Content-Length, Content-Encoding, ETag, ...)."""
    stored = [("Cache-Control", "max-age=1"), ("X-A", "1"), ("ETag", '"a"'),
              ("Content-Encoding", "gzip")]
    fresh = [("Cache-Control", "max-age=60"), ("X-B", "2"), ("ETag", '"b"'),
             ("Content-Encoding", "br")]
    assert updated_headers(stored, fresh) == [
        ("X-A", "1"), ("ETag", '"a"'), ("Content-Encoding", "gzip"),
        ("Cache-Control", "max-age=60"), ("X-B", "2"),
    ]


def test_hop_by_hop_fields_include_those_named_in_connection() -> None:
    """RFC 9110 §7.6.1: Connection lists further hop-by-hop fields."""
    fields = hop_by_hop({"connection": ["close, X-Secret"]})
    assert {"x-secret", "close", "keep-alive", "transfer-encoding", "upgrade", "te"} <= fields


def test_unsafe_methods_invalidate_on_success_only() -> None:
    """RFC 9111 §4.4: a non-error answer to an unsafe method invalidates the target URI."""
    assert invalidates("POST", 201) and invalidates("DELETE", 204) and invalidates("M-SEARCH", 200)
    assert not invalidates("POST", 500) and not invalidates("GET", 200)
    assert not invalidates("OPTIONS", 200)


# ------------------------------------------------------------------ conditionals and ranges


VALIDATORS = Validators(etag='"v1"', last_modified_time=NOW - 100)


@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        ({"if-none-match": '"v1"'}, Answer.NOT_MODIFIED),
        ({"if-none-match": 'W/"v1"'}, Answer.NOT_MODIFIED),
        ({"if-none-match": '"x", "v1"'}, Answer.NOT_MODIFIED),
        ({"if-none-match": "*"}, Answer.NOT_MODIFIED),
        ({"if-none-match": '"x"'}, Answer.FULL),
        ({"if-modified-since": format_http_date(NOW - 50)}, Answer.NOT_MODIFIED),
        ({"if-modified-since": format_http_date(NOW - 500)}, Answer.FULL),
        # If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2).
        ({"if-none-match": '"x"', "if-modified-since": format_http_date(NOW)}, Answer.FULL),
        ({"if-match": '"x"'}, Answer.PRECONDITION_FAILED),
        ({"if-unmodified-since": format_http_date(NOW - 500)}, Answer.PRECONDITION_FAILED),
    ],
)
def test_client_conditionals(headers: dict[str, str], answer: Answer) -> None:
    """RFC 9110 §13.1 (weak comparison for If-None-Match) and §13.2.2 (evaluation order)."""
    assert evaluate("GET", headers, VALIDATORS, 100).answer is answer


@pytest.mark.parametrize(
    ("header", "expected"),
    [("bytes=0-9", (0, 9)), ("bytes=90-", (90, 99)), ("bytes=-10", (90, 99)),
     ("bytes=95-200", (95, 99)), ("bytes=100-", False), ("bytes=-0", False),
     ("bytes=5-2", None), ("items=0-1", None), ("bytes=0-1,5-6", None), ("bytes=x-", None)],
)
def test_range_parsing(header: str, expected: tuple[int, int] | bool | None) -> None:
    """RFC 9110 §14.1.2 byte ranges: a range past the end is unsatisfiable (416), a malformed
    or multi-range field may be ignored (full 200)."""
    assert parse_range(header, 100) == expected


def test_if_range_needs_a_strong_match() -> None:
    """RFC 9110 §13.1.5: If-Range with a matching strong validator gives the range, any
    other value the whole representation."""
    matching = evaluate("GET", {"range": "bytes=0-1", "if-range": '"v1"'}, VALIDATORS, 100)
    assert matching.answer is Answer.PARTIAL
    other = evaluate("GET", {"range": "bytes=0-1", "if-range": '"v0"'}, VALIDATORS, 100)
    assert other.answer is Answer.FULL
    dated = evaluate(
        "GET", {"range": "bytes=0-1", "if-range": format_http_date(NOW - 100)}, VALIDATORS, 100
    )
    assert dated.answer is Answer.PARTIAL
