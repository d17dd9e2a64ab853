"""HTTP/1.1 on the wire for the hit path (pure): reading request heads, writing stored answers.

The hit path (`edge_cache.hitpath`) answers fresh cache hits itself and hands every other
request to aiohttp. This module decides which is which. It reads only what a plain GET or
HEAD needs and is strict about it: anything it does not fully understand — an odd request
line, obs-fold, control characters, a body, `Expect`, `Upgrade`, a missing or repeated
`Host` on HTTP/1.1 — is `HANDOVER`, and aiohttp's own parser then answers it (a 400 for a
malformed request). So this parser can only ever be stricter than aiohttp's, never more
lenient (RFC 9112 §2.2, §3, §5, §6).

The answer side turns a stored response into bytes once (`StoredWire`); per hit only the
status line, `Age` and the per-request fields are formatted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

from aiohttp.http import SERVER_SOFTWARE

MAX_HEAD = 8190 + 100 * 8190
"""Longest request head kept waiting for its end; longer ones go to aiohttp (which refuses
them with 400/431 under the same limits: line 8190 bytes, 100 fields)."""
MAX_FIELDS = 100

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version, only origin-form
# targets (RFC 9112 §3.2.1) of visible ASCII, no fragment; then RFC 9110 §5.5 / RFC 9112
# §5 fields: field-name ":" OWS field-value OWS, no obs-fold, no CTLs.
_HEAD = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (/[!-\"$-~]*) HTTP/1\.([01])\r\n"
    rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*)"
)
# Request fields that need aiohttp to read the request itself.
_HANDOVER_FIELDS = frozenset({b"transfer-encoding", b"expect", b"upgrade"})

# Request fields that need the full path: bodies and expectations (aiohttp reads bodies),
# preconditions and ranges (RFC 9110 §13, §14), request cache directives (RFC 9111 §5.2.1),
# credentials (RFC 9111 §3.5).
_FULL_PATH_FIELDS = frozenset({
    b"content-length", b"te",
    b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since", b"if-range",
    b"range", b"cache-control", b"authorization",
})


class _Handover:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HANDOVER"


HANDOVER = _Handover()
"""The request is not one the hit path answers: aiohttp must read it."""


@dataclass(slots=True)
class RequestHead:
    """A plain GET or HEAD without a body, read from the wire."""

    method: bytes
    target: bytes
    minor: int
    """HTTP/1.<minor>."""
    keep_alive: bool
    fields: dict[bytes, list[bytes]]
    """Values by lower-case field name."""
    end: int
    """Offset just past the head in the buffer it was read from."""

    def get_all(self, name: str) -> list[str]:
        """Field values as text (for Vary matching, `selecting_values`)."""
        values = self.fields.get(name.lower().encode("latin-1"))
        return [value.decode("latin-1") for value in values] if values else []

    def first(self, name: bytes) -> bytes | None:
        values = self.fields.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class OtherRequest:
    """A request the hit path does not answer, whose extent is known: it has no body, so it
    ends at `end` and the bytes after it are the next request (pipelining)."""

    end: int


def read_head(buf: bytes, start: int = 0) -> RequestHead | OtherRequest | _Handover | None:
    """The request head starting at `start`: None while incomplete (and under MAX_HEAD),
    `RequestHead` for a plain GET/HEAD the hit path may answer, `OtherRequest` for any
    other bodiless request, `HANDOVER` for the rest (bodies, malformed heads)."""
    end = buf.find(b"\r\n\r\n", start)
    if end < 0:
        return None if len(buf) - start <= MAX_HEAD else HANDOVER
    head = _HEAD.fullmatch(buf, start, end + 2)  # request line and fields, all checked
    if head is None:
        return HANDOVER
    method, target, version, block = head.groups()
    fields: dict[bytes, list[bytes]] = {}
    if block:
        lines = block.split(b"\r\n")
        lines.pop()  # after the last CRLF
        if len(lines) > MAX_FIELDS:
            return HANDOVER
        for raw in lines:
            if len(raw) > 8190:
                return HANDOVER
            name, _, value = raw.partition(b":")
            key = name.lower()
            values = fields.get(key)
            if values is None:
                fields[key] = [value.strip(b" \t")]
            else:
                values.append(value.strip(b" \t"))
    if len(target) > 8190:
        return HANDOVER
    minor = 1 if version == b"1" else 0
    host = fields.get(b"host")
    if minor == 1 and (host is None or len(host) != 1):
        return HANDOVER  # RFC 9112 §3.2: exactly one Host; aiohttp answers 400
    if not _HANDOVER_FIELDS.isdisjoint(fields):
        return HANDOVER
    length = fields.get(b"content-length")
    if length is not None and (len(length) != 1 or length[0] != b"0"):
        return HANDOVER  # a body to read
    connection = fields.get(b"connection")
    keep_alive = minor == 1 if connection is None else _keep_alive(minor, connection)
    if keep_alive is None:
        return HANDOVER
    if (method != b"GET" and method != b"HEAD") or not _FULL_PATH_FIELDS.isdisjoint(fields):
        return OtherRequest(end + 4)
    return RequestHead(method, target, minor, keep_alive, fields, end + 4)


def _keep_alive(minor: int, connection: list[bytes]) -> bool | None:
    """RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`.
    None for other connection options (left to aiohttp)."""
    close = keep = False
    for value in connection:
        for token in value.split(b","):
            option = token.strip(b" \t").lower()
            if option == b"close":
                close = True
            elif option == b"keep-alive":
                keep = True
            elif option:
                return None
    if close:
        return False
    return minor == 1 or keep


_STATUS_LINES: dict[tuple[int, int, str], bytes] = {}


def status_line(minor: int, status: int, reason: str) -> bytes:
    """`HTTP/1.x 200 OK\\r\\n` as aiohttp writes it (the reason phrase of the stored
    response, or the standard one)."""
    key = (minor, status, reason)
    line = _STATUS_LINES.get(key)
    if line is None:
        if not reason:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        line = f"HTTP/1.{minor} {status} {reason}\r\n".encode("latin-1")
        if len(_STATUS_LINES) < 1024:
            _STATUS_LINES[key] = line
    return line


SERVER_LINE = f"Server: {SERVER_SOFTWARE}\r\n".encode("latin-1")
NO_BODY_STATUSES = frozenset({204, 304})


_PER_ANSWER = frozenset({"x-request-id", "x-cache"})
"""Stored fields every answer replaces with its own."""


class StoredWire:
    """A stored response's status line and header fields as bytes, made once per entry.

    Sent as: status line, stored fields, `Age`, `X-Cache`, `Content-Length`, `Server`,
    per-request fields (request id, `Connection`), blank line, body — the fields and order
    aiohttp writes for the same `web.Response`. `heads[(minor, is_get)]` is everything up
    to `Age`; `tail` the fields after it.
    """

    __slots__ = ("heads", "tail")

    def __init__(
        self, status: int, reason: str, headers: tuple[tuple[str, str], ...], body_length: int
    ) -> None:
        # The request id is the request's own (added per answer), never the stored one; the
        # X-Cache is this edge's (an upstream edge's own is replaced, as on the full path).
        headers = tuple(pair for pair in headers if pair[0].lower() not in _PER_ANSWER)
        names = {name.lower() for name, _ in headers}
        # UTF-8, as aiohttp writes fields (stored values come from aiohttp's client parser,
        # which refuses line breaks in them).
        fields = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8")
        # aiohttp adds a Content-Type to a non-empty body, not to a HEAD answer (no body).
        get_fields = fields
        if "content-type" not in names and body_length:
            get_fields += b"Content-Type: application/octet-stream\r\n"
        self.heads: dict[tuple[int, bool], bytes] = {
            (minor, is_get): status_line(minor, status, reason) + (
                get_fields if is_get else fields
            )
            for minor in (0, 1)
            for is_get in (True, False)
        }
        tail = b"X-Cache: HIT\r\nContent-Length: %d\r\n" % body_length
        if "server" not in names:
            tail += SERVER_LINE
        self.tail = tail
