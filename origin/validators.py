"""Parsing and comparing validators: entity tags and HTTP dates (RFC 9110 §8.8, §5.6.7).

Pure functions that never raise on malformed input: a garbage value parses to None (or to
an empty tag list), so a conditional header a client got wrong can only ever make the
condition fail, never the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate

# RFC 9110 §8.8.3: entity-tag = [ weak ] opaque-tag; opaque-tag = DQUOTE *etagc DQUOTE;
# etagc = %x21 / %x23-7E / obs-text. A comma is a valid etagc, so lists are scanned tag by
# tag rather than split on commas.
_ENTITY_TAG_RE = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_TIME = r"([0-9][0-9]):([0-9][0-9]):([0-9][0-9])"
_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# RFC 9110 §5.6.7: IMF-fixdate is what senders use; recipients also accept the two
# obsolete forms.
_IMF_FIXDATE_RE = re.compile(
    rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9][0-9]) {_MONTH} ([0-9]{{4}}) {_TIME} GMT"
)
_RFC850_RE = re.compile(
    rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    rf"([0-9][0-9])-{_MONTH}-([0-9][0-9]) {_TIME} GMT"
)
_ASCTIME_RE = re.compile(
    rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) {_MONTH} ([ 0-9][0-9]) {_TIME} ([0-9]{{4}})"
)


@dataclass(frozen=True, slots=True)
class EntityTag:
    opaque: str
    """The quoted string without the quotes."""
    weak: bool = False

    def strong_match(self, other: EntityTag) -> bool:
        """RFC 9110 §8.8.3.2: both strong and character-for-character identical."""
        return not self.weak and not other.weak and self.opaque == other.opaque

    def weak_match(self, other: EntityTag) -> bool:
        """RFC 9110 §8.8.3.2: identical opaque-tags, whether either is weak or not."""
        return self.opaque == other.opaque


def parse_entity_tag(text: str) -> EntityTag | None:
    """One entity-tag (`"abc"` or `W/"abc"`), or None if `text` is not exactly one."""
    match = _ENTITY_TAG_RE.fullmatch(text.strip())
    if match is None:
        return None
    return EntityTag(opaque=match.group(2), weak=match.group(1) is not None)


def parse_entity_tag_list(text: str) -> list[EntityTag]:
    """The entity-tags in an If-Match / If-None-Match list; garbage between them is skipped."""
    return [
        EntityTag(opaque=match.group(2), weak=match.group(1) is not None)
        for match in _ENTITY_TAG_RE.finditer(text)
    ]


def is_any(text: str) -> bool:
    """The `*` form of If-Match / If-None-Match."""
    return text.strip() == "*"


def parse_http_date(text: str | None) -> int | None:
    """Seconds since the epoch for an HTTP-date in any of its three forms, else None.

    RFC 9110 §5.6.7. A two-digit rfc850 year is read as 19xx from 70 and 20xx below 70
    (the "more than 50 years in the future" rule, fixed to a pivot so parsing stays pure).
    """
    if text is None:
        return None
    text = text.strip()
    if match := _IMF_FIXDATE_RE.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
    elif match := _RFC850_RE.fullmatch(text):
        day, month, short_year, hour, minute, second = match.groups()
        year = str((1900 if int(short_year) >= 70 else 2000) + int(short_year))
    elif match := _ASCTIME_RE.fullmatch(text):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    try:
        moment = datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:  # 31 Feb, 25:00, a leap second...
        return None
    return int(moment.timestamp())


def format_http_date(timestamp: float) -> str:
    """IMF-fixdate (RFC 9110 §5.6.7), whole seconds: `Sun, 06 Nov 1994 08:49:37 GMT`."""
    return formatdate(int(timestamp), usegmt=True)
