"""The origin's conditional-request and range decision (origin.conditional), RFC 9110.

Pure: no server. Each test names the section of RFC 9110 it checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from multidict import CIMultiDict

from origin.conditional import Decision, Outcome, evaluate
from origin.ranges import MAX_RANGE_SPECS, ByteRange

ETAG = '"5d41402abc4b2a76b9719d911017c592"'
OTHER_ETAG = '"0cc175b9c0f1b6a831c399e269772661"'
# Sun, 06 Nov 1994 08:49:37 GMT, with a fraction the store may report.
MODIFIED = 784111777.25
LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"
EARLIER = "Sun, 06 Nov 1994 08:49:36 GMT"
LATER = "Sun, 06 Nov 1994 08:49:38 GMT"
FAR_FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
SIZE = 1000


@dataclass(frozen=True)
class Rep:
    etag: str = ETAG
    last_modified: float = MODIFIED
    size: int = SIZE


REP = Rep()


def decide(headers: dict[str, str], method: str = "GET", rep: Rep = REP) -> Outcome:
    return evaluate(method, headers, rep)


def partial(start: int, end: int) -> Outcome:
    return Outcome(Decision.PARTIAL, ByteRange(start, end))


SEND = Outcome(Decision.SEND)
NOT_MODIFIED = Outcome(Decision.NOT_MODIFIED)
PRECONDITION_FAILED = Outcome(Decision.PRECONDITION_FAILED)
NOT_SATISFIABLE = Outcome(Decision.NOT_SATISFIABLE)


def test_no_conditions_sends_the_representation() -> None:
    """RFC 9110 §13.2.2 step 6: without preconditions the method is performed (200)."""
    assert decide({}) == SEND
    assert decide({}, "HEAD") == SEND


# -- If-Match (§13.1.1) and If-Unmodified-Since (§13.1.4) ------------------------------------


@pytest.mark.parametrize(
    "value", [ETAG, "*", f"{OTHER_ETAG}, {ETAG}", f'  {ETAG} ,"x"']
)
def test_if_match_that_matches_lets_the_request_through(value: str) -> None:
    """RFC 9110 §13.1.1: `*` or a strongly matching tag in the list makes the condition true."""
    assert decide({"If-Match": value}) == SEND


@pytest.mark.parametrize("value", [OTHER_ETAG, f"W/{ETAG}", "garbage", '"', ""])
def test_if_match_that_does_not_match_fails_with_412(value: str) -> None:
    """RFC 9110 §13.1.1: If-Match uses the strong comparison (a weak tag never matches); a
    false condition is answered with 412 (§13.2.2 step 1)."""
    assert decide({"If-Match": value}) == PRECONDITION_FAILED


def test_if_unmodified_since_before_last_modified_fails_with_412() -> None:
    """RFC 9110 §13.1.4: modified after the given date → condition false → 412."""
    assert decide({"If-Unmodified-Since": EARLIER}) == PRECONDITION_FAILED


@pytest.mark.parametrize("value", [LAST_MODIFIED, LATER, FAR_FUTURE])
def test_if_unmodified_since_at_or_after_last_modified_passes(value: str) -> None:
    """RFC 9110 §13.1.4: not modified since the date → condition true."""
    assert decide({"If-Unmodified-Since": value}) == SEND


@pytest.mark.parametrize("value", ["yesterday", "Sun, 31 Feb 1994 08:49:37 GMT", "0", ""])
def test_if_unmodified_since_that_is_not_a_date_is_ignored(value: str) -> None:
    """RFC 9110 §13.1.4: a recipient MUST ignore If-Unmodified-Since if it is not a valid
    HTTP-date."""
    assert decide({"If-Unmodified-Since": value}) == SEND


def test_if_unmodified_since_is_ignored_when_if_match_is_present() -> None:
    """RFC 9110 §13.2.2 step 2: If-Unmodified-Since is evaluated only without If-Match."""
    assert decide({"If-Match": ETAG, "If-Unmodified-Since": EARLIER}) == SEND


def test_failed_if_match_wins_over_a_matching_if_none_match() -> None:
    """RFC 9110 §13.2.2: step 1 (If-Match) is evaluated before step 3 (If-None-Match)."""
    assert decide({"If-Match": OTHER_ETAG, "If-None-Match": ETAG}) == PRECONDITION_FAILED


# -- If-None-Match (§13.1.2) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [ETAG, f"W/{ETAG}", "*", f"{OTHER_ETAG}, W/{ETAG}", f'"a,b", {ETAG}', f"junk {ETAG}"],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_that_matches_is_not_modified(value: str, method: str) -> None:
    """RFC 9110 §13.1.2: weak comparison (`W/"x"` matches `"x"`), `*` matches any current
    representation, any member of the list may match; for GET/HEAD a false condition is a
    304 (§13.2.2 step 3)."""
    assert decide({"If-None-Match": value}, method) == NOT_MODIFIED


@pytest.mark.parametrize("value", [OTHER_ETAG, f"W/{OTHER_ETAG}", "garbage", '"', ""])
def test_if_none_match_that_does_not_match_sends(value: str) -> None:
    """RFC 9110 §13.1.2: no member matches → condition true → the method is performed."""
    assert decide({"If-None-Match": value}) == SEND


def test_if_none_match_with_a_comma_inside_a_tag_compares_whole_tags() -> None:
    """RFC 9110 §8.8.3: etagc includes the comma, so `"a,b"` is one tag, not two."""
    rep = Rep(etag='"a,b"')
    assert decide({"If-None-Match": '"a,b"'}, rep=rep) == NOT_MODIFIED
    assert decide({"If-None-Match": '"a"'}, rep=rep) == SEND


def test_if_none_match_on_other_methods_fails_with_412() -> None:
    """RFC 9110 §13.2.2 step 3: for methods other than GET/HEAD a match means 412."""
    assert decide({"If-None-Match": ETAG}, "PUT") == PRECONDITION_FAILED


def test_if_none_match_comes_before_range() -> None:
    """RFC 9110 §13.2.2: step 3 (If-None-Match → 304) precedes step 5 (Range → 206)."""
    assert decide({"If-None-Match": ETAG, "Range": "bytes=0-9"}) == NOT_MODIFIED


# -- If-Modified-Since (§13.1.3) -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        LAST_MODIFIED,
        LATER,
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 form
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime form
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_modified_since_at_or_after_last_modified_is_not_modified(
    value: str, method: str
) -> None:
    """RFC 9110 §13.1.3: last modified at or before the date → 304; §5.6.7: recipients
    accept all three HTTP-date forms; Last-Modified has whole seconds, so a stored fraction
    does not make the object look newer than its own Last-Modified."""
    assert decide({"If-Modified-Since": value}, method) == NOT_MODIFIED


def test_if_modified_since_in_the_future_is_not_modified() -> None:
    """RFC 9110 §13.1.3 compares dates only; unlike RFC 2616 it does not call a date later
    than the server's clock invalid, so a future date is honoured (304)."""
    assert decide({"If-Modified-Since": FAR_FUTURE}) == NOT_MODIFIED


def test_if_modified_since_before_last_modified_sends() -> None:
    """RFC 9110 §13.1.3: modified after the date → condition true → 200."""
    assert decide({"If-Modified-Since": EARLIER}) == SEND
    assert decide({"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}) == SEND


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "sun, 06 nov 1994 08:49:37 gmt",
        f"{LAST_MODIFIED}, {LAST_MODIFIED}",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "9" * 5000,
    ],
)
def test_if_modified_since_that_is_not_one_valid_date_is_ignored(value: str) -> None:
    """RFC 9110 §13.1.3: ignore If-Modified-Since if it is not a valid HTTP-date or has more
    than one member; §5.6.7: HTTP-date is case-sensitive."""
    assert decide({"If-Modified-Since": value}) == SEND


def test_if_modified_since_is_ignored_when_if_none_match_is_present() -> None:
    """RFC 9110 §13.1.3 / §13.2.2 step 4: If-Modified-Since only when If-None-Match is
    absent, so a non-matching If-None-Match sends even if the date would say 304."""
    assert decide({"If-None-Match": OTHER_ETAG, "If-Modified-Since": LATER}) == SEND


def test_if_modified_since_is_ignored_for_other_methods() -> None:
    """RFC 9110 §13.1.3: ignored if the method is neither GET nor HEAD."""
    assert decide({"If-Modified-Since": LATER}, "POST") == SEND


def test_if_modified_since_not_modified_wins_over_range() -> None:
    """RFC 9110 §13.2.2: step 4 (304) precedes step 5 (Range)."""
    assert decide({"If-Modified-Since": LATER, "Range": "bytes=0-9"}) == NOT_MODIFIED


# -- Range (§14.1.1, §14.2) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-499", partial(0, 499)),
        ("bytes=500-999", partial(500, 999)),
        ("bytes=0-0", partial(0, 0)),
        ("bytes=999-999", partial(999, 999)),
        ("bytes=100-", partial(100, 999)),
        ("bytes=0-", partial(0, 999)),
        ("bytes=-500", partial(500, 999)),
        ("bytes=-1", partial(999, 999)),
        ("bytes=900-5000", partial(900, 999)),
        ("bytes=900-" + "9" * 40, partial(900, 999)),
        ("BYTES=0-9", partial(0, 9)),
        ("bytes= 0-9 ", partial(0, 9)),
        ("bytes=0-9,", partial(0, 9)),
    ],
)
def test_one_satisfiable_range_is_partial(value: str, expected: Outcome) -> None:
    """RFC 9110 §14.1.1: first-last inclusive; a missing or too large last means to the
    end; `-N` is the last N bytes; the unit is case-insensitive; empty list elements are
    allowed (§5.6.1). One satisfiable range → 206 (§15.3.7)."""
    assert decide({"Range": value}) == expected


def test_suffix_longer_than_the_object_is_the_whole_object() -> None:
    """RFC 9110 §14.1.1: if the representation is shorter than the suffix-length, the
    entire representation is used."""
    assert decide({"Range": "bytes=-5000"}) == partial(0, 999)


@pytest.mark.parametrize(
    "value", ["bytes=1000-", "bytes=1000-2000", "bytes=5000-6000", "bytes=-0", "bytes=1000-,2000-"]
)
def test_no_satisfiable_range_is_416(value: str) -> None:
    """RFC 9110 §14.1.1 / §15.5.17: an int-range is satisfiable only if first < length and a
    suffix-range only if its length is non-zero; none satisfiable → 416."""
    assert decide({"Range": value}) == NOT_SATISFIABLE


@pytest.mark.parametrize(
    "value",
    [
        "bytes=500-100",
        "bytes=abc",
        "bytes=",
        "bytes=--5",
        "bytes=1-2-3",
        "bytes=0x10-20",
        "bytes=\u0661-\u0662",
        "items=0-5",
        "0-5",
        "bytes 0-5",
        "bytes=0-5;bytes=6-7",
        "bytes=0-1, bytes=2-3",
        "bytes=+1-2",
        "bytes=-",
        "\x00",
    ],
)
def test_invalid_range_is_ignored(value: str) -> None:
    """RFC 9110 §14.1.1: a range-set with an invalid range-spec (last < first, not digits)
    makes the header invalid; §14.2: an invalid Range or an unknown unit is ignored → 200."""
    assert decide({"Range": value}) == SEND


def test_range_is_ignored_for_head() -> None:
    """RFC 9110 §14.2: Range is defined only for GET; a server MUST ignore it otherwise."""
    assert decide({"Range": "bytes=0-9"}, "HEAD") == SEND


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-99,50-149", partial(0, 149)),
        ("bytes=50-149,0-99", partial(0, 149)),
        ("bytes=0-9,20-29", partial(0, 29)),
        ("bytes=0-9,10-19", partial(0, 19)),
        ("bytes=0-9,5000-6000", partial(0, 9)),
        ("bytes=-10,0-9", SEND),
        ("bytes=0-9,500-509", SEND),
    ],
)
def test_multiple_ranges_coalesce_or_send_everything(value: str, expected: Outcome) -> None:
    """RFC 9110 §14.1.1: a server MAY coalesce ranges that overlap or are separated by a gap
    smaller than the multipart overhead; unsatisfiable members are dropped; what remains as
    several parts is sent whole as a 200, which §14.2 allows (a server MAY ignore Range)."""
    assert decide({"Range": value}) == expected


def test_too_many_ranges_are_ignored() -> None:
    """RFC 9110 §14.2 / §17.15: a server may ignore a Range with an excessive number of
    ranges (a denial-of-service vector)."""
    many = ",".join(f"{n}-{n}" for n in range(MAX_RANGE_SPECS + 1))
    assert decide({"Range": f"bytes={many}"}) == SEND
    few = ",".join(f"{n}-{n}" for n in range(MAX_RANGE_SPECS))
    assert decide({"Range": f"bytes={few}"}) == partial(0, MAX_RANGE_SPECS - 1)


# -- If-Range (§13.1.5) ----------------------------------------------------------------------


@pytest.mark.parametrize("if_range", [ETAG, LAST_MODIFIED])
def test_if_range_that_holds_serves_the_range(if_range: str) -> None:
    """RFC 9110 §13.1.5: a strongly matching entity-tag, or a date exactly equal to
    Last-Modified, lets the Range apply (206)."""
    assert decide({"Range": "bytes=0-9", "If-Range": if_range}) == partial(0, 9)


@pytest.mark.parametrize(
    "if_range",
    [OTHER_ETAG, f"W/{ETAG}", EARLIER, LATER, "garbage", "", f"{ETAG}, {ETAG}", '"unterminated'],
)
def test_if_range_that_does_not_hold_sends_everything(if_range: str) -> None:
    """RFC 9110 §13.1.5: a different tag, a weak tag (If-Range needs the strong comparison),
    a date that is not exactly Last-Modified, or anything unparsable → ignore Range, 200."""
    assert decide({"Range": "bytes=0-9", "If-Range": if_range}) == SEND


def test_if_range_without_range_is_ignored() -> None:
    """RFC 9110 §13.1.5: a server MUST ignore If-Range in a request without Range."""
    assert decide({"If-Range": OTHER_ETAG}) == SEND


def test_failed_if_range_with_unsatisfiable_range_sends_everything() -> None:
    """RFC 9110 §13.2.2 step 5: a false If-Range means Range is ignored, so no 416 either."""
    assert decide({"Range": "bytes=5000-", "If-Range": OTHER_ETAG}) == SEND


# -- Zero-length objects ---------------------------------------------------------------------


def test_zero_length_object_has_no_satisfiable_int_range() -> None:
    """RFC 9110 §14.1.1: first-pos must be less than the length, impossible for 0 bytes."""
    empty = Rep(size=0)
    assert decide({"Range": "bytes=0-"}, rep=empty) == NOT_SATISFIABLE
    assert decide({"Range": "bytes=0-0"}, rep=empty) == NOT_SATISFIABLE


def test_zero_length_object_with_suffix_range_is_sent_whole() -> None:
    """RFC 9110 §14.1.1: a non-zero suffix-range is satisfiable even for an empty
    representation, but no Content-Range can describe zero bytes, so the (empty) whole is
    sent as 200 (§14.2 allows ignoring Range)."""
    empty = Rep(size=0)
    assert decide({"Range": "bytes=-5"}, rep=empty) == SEND
    assert decide({}, rep=empty) == SEND
    assert decide({"If-None-Match": ETAG}, rep=empty) == NOT_MODIFIED


# -- Field handling (§5.3) -------------------------------------------------------------------


def test_field_names_are_case_insensitive() -> None:
    """RFC 9110 §5.1: field names are case-insensitive."""
    assert decide({"if-none-match": ETAG}) == NOT_MODIFIED
    assert decide({"RANGE": "bytes=0-1"}) == partial(0, 1)


def test_repeated_list_fields_are_combined() -> None:
    """RFC 9110 §5.3: repeated field lines combine into one list, so a match on the second
    If-None-Match line counts."""
    headers = CIMultiDict([("If-None-Match", OTHER_ETAG), ("If-None-Match", ETAG)])
    assert evaluate("GET", headers, REP) == NOT_MODIFIED


def test_repeated_range_fields_are_invalid() -> None:
    """RFC 9110 §5.3 / §14.2: two Range lines combine into `bytes=0-1, bytes=2-3`, which is
    not a valid ranges-specifier, so Range is ignored."""
    headers = CIMultiDict([("Range", "bytes=0-1"), ("Range", "bytes=2-3")])
    assert evaluate("GET", headers, REP) == SEND
