"""Entity tags and HTTP dates (origin.validators), RFC 9110 §8.8 and §5.6.7."""

from __future__ import annotations

import pytest

from origin.validators import (
    EntityTag,
    format_http_date,
    parse_entity_tag,
    parse_entity_tag_list,
    parse_http_date,
)

NOV_6_1994 = 784111777


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "  Sun, 06 Nov 1994 08:49:37 GMT  ",
    ],
)
def test_all_three_date_forms_parse(text: str) -> None:
    """RFC 9110 §5.6.7: recipients MUST accept IMF-fixdate, rfc850-date and asctime-date."""
    assert parse_http_date(text) == NOV_6_1994


def test_two_digit_years_below_70_are_this_century() -> None:
    """RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past century."""
    assert parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT") == 946684800
    assert parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == 0


@pytest.mark.parametrize(
    "text",
    [None, "", "garbage", "Sun, 30 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:60 GMT",
     "Sun, 6 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z", "784111777"],
)
def test_invalid_dates_are_none(text: str | None) -> None:
    """RFC 9110 §5.6.7: anything that is not one of the three forms is not an HTTP-date."""
    assert parse_http_date(text) is None


def test_format_is_imf_fixdate_in_whole_seconds() -> None:
    """RFC 9110 §5.6.7: senders generate IMF-fixdate."""
    assert format_http_date(NOV_6_1994 + 0.9) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert parse_http_date(format_http_date(NOV_6_1994)) == NOV_6_1994


def test_entity_tags_parse_strong_and_weak() -> None:
    """RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE."""
    assert parse_entity_tag('"abc"') == EntityTag("abc")
    assert parse_entity_tag('W/"abc"') == EntityTag("abc", weak=True)
    assert parse_entity_tag('""') == EntityTag("")
    assert parse_entity_tag("abc") is None
    assert parse_entity_tag('"a" "b"') is None


def test_comparison_functions() -> None:
    """RFC 9110 §8.8.3.2: the table of weak and strong comparisons."""
    w1, w1b, w2 = EntityTag("1", True), EntityTag("1", True), EntityTag("2", True)
    s1 = EntityTag("1")
    assert not w1.strong_match(w1b) and w1.weak_match(w1b)
    assert not w1.strong_match(w2) and not w1.weak_match(w2)
    assert not w1.strong_match(s1) and w1.weak_match(s1)
    assert s1.strong_match(EntityTag("1")) and s1.weak_match(EntityTag("1"))


def test_tag_lists_keep_commas_inside_tags() -> None:
    """RFC 9110 §8.8.3: a comma is a valid etagc, so lists are not split on commas."""
    assert parse_entity_tag_list('"a,b", W/"c" ,"d"') == [
        EntityTag("a,b"), EntityTag("c", weak=True), EntityTag("d"),
    ]
