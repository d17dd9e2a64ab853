"""What to answer to a GET/HEAD of a stored object: the conditional-request decision.

A pure function of the method, the request headers and the object's validators, following
the evaluation order of RFC 9110 §13.2.2; the handler only maps the Outcome to a response.

Multiple ranges: satisfiable ranges that overlap or nearly touch are coalesced (§14.1.1);
if one range remains it is served as a 206, otherwise the full representation is sent as a
200 (a server may ignore Range, §14.2). Players ask for one range at a time, so
multipart/byteranges would be code without a user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from origin.ranges import ByteRange, RangeSpec, coalesce, parse_range, satisfiable
from origin.validators import (
    EntityTag,
    is_any,
    parse_entity_tag,
    parse_entity_tag_list,
    parse_http_date,
)

SAFE_METHODS = frozenset({"GET", "HEAD"})


class Representation(Protocol):
    """What the decision needs to know about the object (ObjectInfo has it)."""

    @property
    def etag(self) -> str: ...

    @property
    def last_modified(self) -> float: ...

    @property
    def size(self) -> int: ...


class Decision(Enum):
    SEND = 200
    PARTIAL = 206
    NOT_MODIFIED = 304
    PRECONDITION_FAILED = 412
    NOT_SATISFIABLE = 416


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    byte_range: ByteRange | None = None
    """The bytes to send for PARTIAL; None otherwise."""


SEND = Outcome(Decision.SEND)
NOT_MODIFIED = Outcome(Decision.NOT_MODIFIED)
PRECONDITION_FAILED = Outcome(Decision.PRECONDITION_FAILED)
NOT_SATISFIABLE = Outcome(Decision.NOT_SATISFIABLE)


def combine_fields(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request fields by lower-case name, repeated lines joined with ", " (RFC 9110 §5.3).

    Joining is what makes a repeated singleton field (two Range or If-Modified-Since lines)
    invalid, and so ignored, rather than silently taking the first.
    """
    fields: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        fields[lowered] = f"{fields[lowered]}, {value}" if lowered in fields else value
    return fields


CONDITIONAL_FIELDS = frozenset(
    {"if-match", "if-unmodified-since", "if-none-match", "if-modified-since", "range"}
)
"""The request fields `evaluate` reads (If-Range matters only with Range)."""


def evaluate(method: str, headers: Mapping[str, str], rep: Representation) -> Outcome:
    """Decide between 200, 206, 304, 412 and 416 for `method` on `rep`.

    `headers` may be any mapping of request fields (aiohttp's multidict included); names are
    matched case-insensitively and repeated fields are combined.
    """
    return evaluate_fields(method, combine_fields(headers.items()), rep)


def evaluate_fields(method: str, fields: Mapping[str, str], rep: Representation) -> Outcome:
    """`evaluate` for fields already combined by `combine_fields` (lower-case names)."""
    if CONDITIONAL_FIELDS.isdisjoint(fields):
        return SEND
    current = parse_entity_tag(rep.etag) or EntityTag(rep.etag.strip('"'))
    modified = int(rep.last_modified)  # HTTP dates have whole seconds (§5.6.7)

    # Step 1 (§13.1.1): If-Match; `*` matches any current representation, tags compare
    # strongly. Step 2 (§13.1.4): otherwise If-Unmodified-Since, ignored if not a date.
    if_match = fields.get("if-match")
    if if_match is not None:
        if not (is_any(if_match) or _any_match(if_match, current, strong=True)):
            return PRECONDITION_FAILED
    else:
        unmodified_since = parse_http_date(fields.get("if-unmodified-since"))
        if unmodified_since is not None and modified > unmodified_since:
            return PRECONDITION_FAILED

    # Step 3 (§13.1.2): If-None-Match, weak comparison; a match is a 304 for GET/HEAD.
    # Step 4 (§13.1.3): If-Modified-Since only without If-None-Match and only for GET/HEAD.
    if_none_match = fields.get("if-none-match")
    if if_none_match is not None:
        if is_any(if_none_match) or _any_match(if_none_match, current, strong=False):
            return NOT_MODIFIED if method in SAFE_METHODS else PRECONDITION_FAILED
    elif method in SAFE_METHODS:
        modified_since = parse_http_date(fields.get("if-modified-since"))
        if modified_since is not None and modified <= modified_since:
            return NOT_MODIFIED

    # Step 5 (§13.2.2, §14.2): Range only for GET; a failed If-Range means "send it all".
    range_value = fields.get("range")
    if method != "GET" or range_value is None:
        return SEND
    specs = parse_range(range_value)
    if specs is None:
        return SEND
    if_range = fields.get("if-range")
    if if_range is not None and not if_range_holds(if_range, current, modified):
        return SEND
    return select_range(specs, rep.size)


def _any_match(field: str, current: EntityTag, *, strong: bool) -> bool:
    for tag in parse_entity_tag_list(field):
        if tag.strong_match(current) if strong else tag.weak_match(current):
            return True
    return False


def if_range_holds(value: str, current: EntityTag, modified: int) -> bool:
    """RFC 9110 §13.1.5: an entity-tag must match strongly (a weak one never does); a date
    must equal Last-Modified exactly. Anything else does not hold."""
    value = value.strip()
    if value.startswith(("W/", '"')):
        tag = parse_entity_tag(value)
        return tag is not None and tag.strong_match(current)
    date = parse_http_date(value)
    return date is not None and date == modified


def select_range(specs: list[RangeSpec], size: int) -> Outcome:
    """PARTIAL for one (coalesced) satisfiable range, SEND for several, 416 for none.

    A zero-length object has no byte a range could name; a non-zero suffix-range is still
    "satisfiable" for it (§14.1.1), so that case gets the (empty) full representation.
    """
    ranges = [r for r in (satisfiable(spec, size) for spec in specs) if r is not None]
    if not ranges:
        if size == 0 and any(spec.is_suffix and spec.last for spec in specs):
            return SEND
        return NOT_SATISFIABLE
    merged = coalesce(ranges)
    if len(merged) > 1:
        return SEND
    return Outcome(Decision.PARTIAL, merged[0])
