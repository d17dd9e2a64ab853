"""Byte ranges: parsing the Range header and choosing what to send (RFC 9110 §14).

Pure functions. A Range header that does not parse is ignored as a whole (§14.2), which the
caller turns into a full 200; only a syntactically valid set of ranges that misses the
representation entirely leads to 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# More range-specs than this in one header: ignore the header (§14.2 lets a server ignore
# Range; §17.15 warns about many small ranges as a denial of service).
MAX_RANGE_SPECS = 64
# Two satisfiable ranges closer than this are merged (§14.1.1: a server MAY coalesce ranges
# separated by a gap smaller than the overhead of sending multiple parts, ~80 bytes of
# multipart boundary and part headers).
COALESCE_GAP = 80
# Longer digit strings are beyond any object size; capping them keeps int() cheap and safe.
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS

_SPECIFIER_RE = re.compile(r"[ \t]*bytes[ \t]*=(.*)", re.IGNORECASE | re.DOTALL)
_INT_RANGE_RE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE_RE = re.compile(r"-([0-9]+)")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes `start` to `end` inclusive, as in Content-Range."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """RFC 9110 §14.4: `bytes 0-499/1234`."""
        return f"bytes {self.start}-{self.end}/{size}"


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """One range-spec: `first-last`, `first-` (last None) or `-suffix` (first None)."""

    first: int | None
    last: int | None

    @property
    def is_suffix(self) -> bool:
        return self.first is None


def unsatisfied_content_range(size: int) -> str:
    """RFC 9110 §14.4 / §15.5.17: the Content-Range of a 416, `bytes */1234`."""
    return f"bytes */{size}"


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else _HUGE


def parse_range(value: str) -> list[RangeSpec] | None:
    """The range-specs of a `bytes=` Range header, or None if the header must be ignored.

    RFC 9110 §14.1.1: `first-last` with last < first makes the whole set invalid; another
    range unit is not understood; a list may contain empty elements (§5.6.1).
    """
    match = _SPECIFIER_RE.fullmatch(value)
    if match is None:
        return None
    specs: list[RangeSpec] = []
    for element in match.group(1).split(","):
        element = element.strip(" \t")
        if not element:
            continue
        if int_match := _INT_RANGE_RE.fullmatch(element):
            first = _number(int_match.group(1))
            last = _number(int_match.group(2)) if int_match.group(2) else None
            if last is not None and last < first:
                return None
            specs.append(RangeSpec(first, last))
        elif suffix_match := _SUFFIX_RANGE_RE.fullmatch(element):
            specs.append(RangeSpec(None, _number(suffix_match.group(1))))
        else:
            return None
        if len(specs) > MAX_RANGE_SPECS:
            return None
    return specs or None


def satisfiable(spec: RangeSpec, size: int) -> ByteRange | None:
    """The bytes a range-spec selects from a representation of `size` bytes, if any.

    RFC 9110 §14.1.1: an int-range is satisfiable when first < size, and a last beyond the
    end means "to the end"; a suffix-range takes the last N bytes (all of them when N is
    larger than the representation) and is satisfiable when N > 0.
    """
    if spec.first is None:
        suffix = spec.last or 0
        if suffix == 0 or size == 0:
            return None
        return ByteRange(max(0, size - suffix), size - 1)
    if spec.first >= size:
        return None
    end = size - 1 if spec.last is None else min(spec.last, size - 1)
    return ByteRange(spec.first, end)


def coalesce(ranges: list[ByteRange], gap: int = COALESCE_GAP) -> list[ByteRange]:
    """Merge overlapping, adjacent or nearly adjacent ranges, in byte order (§14.1.1)."""
    merged: list[ByteRange] = []
    for current in sorted(ranges, key=lambda r: r.start):
        if merged and current.start <= merged[-1].end + 1 + gap:
            last = merged[-1]
            merged[-1] = ByteRange(last.start, max(last.end, current.end))
        else:
            merged.append(current)
    return merged
