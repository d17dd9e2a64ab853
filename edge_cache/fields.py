"""Parsing the header fields the cache rules read: directives, HTTP dates, `Age`, `Vary`.

Pure functions with no I/O. Each follows the grammar of RFC 9110 / RFC 9111 and reports a
malformed value as `None` (or an "invalid" marker) instead of guessing, because the cache
rules treat invalid freshness information as stale (RFC 9111 §4.2.1).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable

Directives = dict[str, str | None]

# RFC 9110 §5.6.2: token characters.
_TCHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_DELTA_SECONDS_RE = re.compile(r"[0-9]+")
# RFC 9111 §1.2.2: a delta-seconds value too large to represent is taken as 2^31.
DELTA_SECONDS_MAX = 2**31


def _is_token(text: str) -> bool:
    return bool(text) and all(char in _TCHARS for char in text)


def split_list(text: str) -> list[str]:
    """Split a comma-separated list, keeping commas inside quoted strings (RFC 9110 §5.6.1)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _unquote(value: str) -> str | None:
    """The text of a token or quoted-string argument; None when it is neither."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value if _is_token(value) else None


def parse_directives(values: Iterable[str]) -> Directives:
    """Cache-Control (RFC 9111 §5.2) as {lower-case name: argument or None}.

    The first occurrence of a directive wins (RFC 9111 §4.2.1 allows using the first). A
    directive whose argument is malformed is kept with the marker value "\\0invalid" so that
    freshness rules can treat it as stale rather than as absent.
    """
    directives: Directives = {}
    for line in values:
        for element in split_list(line):
            name, sep, raw = element.partition("=")
            if not _is_token(name):
                continue  # e.g. "max-age =5": not a directive we can read; ignored
            key = name.lower()
            if key in directives:
                continue
            if not sep:
                directives[key] = None
                continue
            value = _unquote(raw)
            directives[key] = INVALID if value is None else value
    return directives


INVALID = "\0invalid"


def delta_seconds(value: str | None) -> int | None:
    """A delta-seconds argument (RFC 9111 §1.2.2); None when absent or malformed."""
    if value is None or not _DELTA_SECONDS_RE.fullmatch(value):
        return None
    return min(int(value), DELTA_SECONDS_MAX)


def parse_surrogate_control(values: Iterable[str], target: str) -> Directives:
    """Surrogate-Control (W3C Edge Architecture): directives for all surrogates or for `target`.

    `max-age=60;edge-1` applies only to the surrogate named `edge-1`; directives aimed at
    another device are dropped.
    """
    kept: list[str] = []
    for line in values:
        for element in split_list(line):
            directive, _, aimed_at = element.partition(";")
            if not aimed_at or aimed_at.strip() == target:
                kept.append(directive.strip())
    return parse_directives([", ".join(kept)]) if kept else {}


# RFC 9110 §5.6.7: recipients accept IMF-fixdate, the obsolete RFC 850 form and asctime.
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_IMF_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT"
)
_RFC850_RE = re.compile(
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    r"(\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT"
)
_ASCTIME_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})"
)


def _timestamp(year: int, month_name: str, day: int, hh: int, mm: int, ss: int) -> float | None:
    month = _MONTHS.get(month_name)
    if month is None or not (1 <= day <= 31 and hh <= 23 and mm <= 59 and ss <= 60):
        return None
    try:
        return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


def parse_http_date(value: str | None) -> float | None:
    """Seconds since the epoch for an HTTP-date (RFC 9110 §5.6.7); None when invalid."""
    if value is None:
        return None
    value = value.strip()
    if match := _IMF_RE.fullmatch(value):
        day, month, year, hh, mm, ss = match.groups()
        return _timestamp(int(year), month, int(day), int(hh), int(mm), int(ss))
    if match := _RFC850_RE.fullmatch(value):
        day, month, year2, hh, mm, ss = match.groups()
        # RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past century.
        year = 2000 + int(year2)
        if year > _current_year() + 50:
            year -= 100
        return _timestamp(year, month, int(day), int(hh), int(mm), int(ss))
    if match := _ASCTIME_RE.fullmatch(value):
        month, day, hh, mm, ss, year = match.groups()
        return _timestamp(int(year), month, int(day.strip()), int(hh), int(mm), int(ss))
    return None


def _current_year() -> int:
    import time

    return time.gmtime().tm_year


def single_value(values: list[str]) -> str | None:
    """The one value of a singleton field, or None when it is absent, repeated or a list.

    Used for `Date`, `Expires`, `Last-Modified`, `ETag`: two different lines make the
    field invalid (RFC 9110 §5.5).
    """
    if not values:
        return None
    distinct = {value.strip() for value in values}
    if len(distinct) != 1:
        return None
    return distinct.pop()


def parse_age(values: list[str]) -> int | None:
    """The Age field (RFC 9111 §5.1): a single delta-seconds; None when absent.

    Returns -1 when present but invalid: non-numeric, negative, a list, or several lines
    (Age is a singleton field). Such a response is treated as stale (RFC 9111 §4.2.1).
    """
    if not values:
        return None
    if len(values) != 1:
        return -1
    age = delta_seconds(values[0].strip())
    return -1 if age is None else age


def parse_vary(values: Iterable[str]) -> tuple[str, ...] | None:
    """Field names listed in Vary, lower-cased and sorted; None for `Vary: *` (RFC 9110 §12.5.5)."""
    names: set[str] = set()
    for line in values:
        for element in split_list(line):
            if element == "*":
                return None
            names.add(element.lower())
    return tuple(sorted(names))


def normalise_field(values: list[str]) -> str:
    """A selecting field's value for Vary matching (RFC 9111 §4.1): lines combined, no spaces."""
    return ",".join(element for line in values for element in split_list(line.replace(" ", "")))


def format_http_date(timestamp: float) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7)."""
    import email.utils

    return email.utils.formatdate(timestamp, usegmt=True)
