"""Answering a client's conditional and range requests from a stored response (pure).

RFC 9110 §13.2.2 fixes the order: If-Match, If-Unmodified-Since, If-None-Match,
If-Modified-Since, then If-Range for a Range request (§13.1.5, §14).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edge_cache.fields import parse_http_date, split_list


class Answer(enum.Enum):
    FULL = "full"
    NOT_MODIFIED = "not_modified"
    PRECONDITION_FAILED = "precondition_failed"
    PARTIAL = "partial"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"


@dataclass(frozen=True, slots=True)
class Validators:
    """Validators of the selected representation."""

    etag: str | None
    last_modified_time: float | None
    """Last-Modified, or Date when absent (RFC 9111 §4.3.2)."""


@dataclass(frozen=True, slots=True)
class Decision:
    answer: Answer
    start: int = 0
    end: int = 0
    """Inclusive byte positions for PARTIAL."""


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def weak_match(header: str, etag: str | None) -> bool:
    """If-None-Match (RFC 9110 §13.1.2): weak comparison against any listed entity-tag."""
    if etag is None:
        return False
    tags = split_list(header)
    if "*" in tags:
        return True
    mine = _opaque(etag)
    return any(_opaque(tag) == mine for tag in tags)


def strong_match(header: str, etag: str | None) -> bool:
    """If-Match (RFC 9110 §13.1.1): strong comparison; weak tags never match."""
    if etag is None or etag.startswith("W/"):
        return header.strip() == "*" and etag is not None
    tags = split_list(header)
    return "*" in tags or etag in tags


def parse_range(header: str, length: int) -> tuple[int, int] | bool | None:
    """One `bytes=` range (RFC 9110 §14.1.2) as inclusive (start, end).

    Returns None when the field should be ignored (malformed, another unit, several ranges:
    a full 200 is a correct answer then) and False when unsatisfiable.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    if not first:
        if not last.isdigit():
            return None
        suffix = int(last)
        if suffix == 0 or length == 0:
            return False
        return max(0, length - suffix), length - 1
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= length:
        return False
    end = int(last) if last else length - 1
    return start, min(end, length - 1)


def if_range_allows(header: str, validators: Validators) -> bool:
    """If-Range (RFC 9110 §13.1.5): a strong entity-tag match or an exactly equal date."""
    value = header.strip()
    if value.startswith(('"', "W/")):
        return validators.etag is not None and not validators.etag.startswith("W/") and (
            value == validators.etag
        )
    when = parse_http_date(value)
    return when is not None and when == validators.last_modified_time


def evaluate(
    method: str,
    headers: dict[str, str],
    validators: Validators,
    length: int,
    *,
    status: int = 200,
) -> Decision:
    """What to send for a request whose selected response is stored and usable.

    `headers` maps lower-case names to the request's (combined) values.
    """
    if_match = headers.get("if-match")
    if if_match is not None:
        if not strong_match(if_match, validators.etag):
            return Decision(Answer.PRECONDITION_FAILED)
    elif (ius := headers.get("if-unmodified-since")) is not None:
        since = parse_http_date(ius)
        if since is not None and (
            validators.last_modified_time is None or validators.last_modified_time > since
        ):
            return Decision(Answer.PRECONDITION_FAILED)
    if status != 200:
        return Decision(Answer.FULL)  # validators and ranges apply to 200 representations
    inm = headers.get("if-none-match")
    if inm is not None:
        if weak_match(inm, validators.etag):
            return Decision(Answer.NOT_MODIFIED)
    elif (ims := headers.get("if-modified-since")) is not None:
        since = parse_http_date(ims)
        modified = validators.last_modified_time
        if since is not None and modified is not None and modified <= since:
            return Decision(Answer.NOT_MODIFIED)
    range_header = headers.get("range")
    if range_header is None or method != "GET":
        return Decision(Answer.FULL)
    if_range = headers.get("if-range")
    if if_range is not None and not if_range_allows(if_range, validators):
        return Decision(Answer.FULL)
    byte_range = parse_range(range_header, length)
    if byte_range is None:
        return Decision(Answer.FULL)
    if byte_range is False:
        return Decision(Answer.RANGE_NOT_SATISFIABLE)
    assert isinstance(byte_range, tuple)
    return Decision(Answer.PARTIAL, byte_range[0], byte_range[1])
