"""HTTP/1.1 message heads for the fast server: reading the requests it answers itself, and
writing its response heads (pure functions, RFC 9112).

The fast server answers only a strict subset of requests: `GET` or `HEAD` of an
origin-form target, HTTP/1.0 or 1.1, every field line a plain `token: visible-ASCII`,
and nothing that frames a body or changes the protocol (`Content-Length`,
`Transfer-Encoding`, `Expect`, `Upgrade`). `parse_head` returns None for anything else,
and the connection is handed to aiohttp, which answers it (or refuses it) as usual. So
this parser can only ever be stricter than aiohttp's, never more lenient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

from aiohttp.http import SERVER_SOFTWARE

MAX_HEAD_BYTES = 8190
"""Larger heads go to aiohttp (whose own limit per line is the same)."""
MAX_FIELDS = 100

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version; origin-form only
# (§3.2.1), no fragment.
_REQUEST_LINE_RE = re.compile(r"(GET|HEAD) (/[!-\"$-~]*) HTTP/1\.([01])")
# RFC 9112 §5 / RFC 9110 §5.6.2: field-name is a token; OWS around the value; the value
# here is visible ASCII, space or tab only (no obs-text, no obs-fold).
_FIELD_LINE_RE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t -~]*?)[ \t]*")
_NOT_OURS = frozenset({"content-length", "transfer-encoding", "expect", "upgrade"})


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    path: str
    """Raw (still percent-encoded) path of the target."""
    query: str
    """Raw query, without the `?`."""
    minor: int
    """HTTP/1.`minor`."""
    fields: dict[str, str]
    """By lower-case name; repeated lines combined with ", " (RFC 9110 §5.3)."""
    keep_alive: bool


def parse_head(head: bytes) -> RequestHead | None:
    """The request whose head is `head` (up to, not including, the empty line), if it is
    one the fast server answers; None otherwise."""
    if len(head) > MAX_HEAD_BYTES:
        return None
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    request_line = _REQUEST_LINE_RE.fullmatch(lines[0])
    if request_line is None or len(lines) > MAX_FIELDS + 1:
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        match = _FIELD_LINE_RE.fullmatch(line)
        if match is None:
            return None
        name, value = match.group(1).lower(), match.group(2)
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    if not _NOT_OURS.isdisjoint(fields):
        return None
    method, target, minor_text = request_line.groups()
    path, _, query = target.partition("?")
    minor = int(minor_text)
    return RequestHead(method, path, query, minor, fields, _keep_alive(minor, fields))


def _keep_alive(minor: int, fields: dict[str, str]) -> bool:
    """RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`."""
    connection = fields.get("connection")
    options = (
        {option.strip().lower() for option in connection.split(",")} if connection else set()
    )
    if minor == 1:
        return "close" not in options
    return "keep-alive" in options


_STATUS_LINES: dict[tuple[int, int], bytes] = {}
SERVER_LINE = f"Server: {SERVER_SOFTWARE}\r\n".encode()


def status_line(minor: int, status: int) -> bytes:
    """`HTTP/1.1 200 OK\\r\\n` (the request's own version, as aiohttp answers)."""
    line = _STATUS_LINES.get((minor, status))
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        line = _STATUS_LINES[minor, status] = f"HTTP/1.{minor} {status} {reason}\r\n".encode()
    return line


def connection_line(minor: int, keep_alive: bool) -> bytes:
    """Said only where the default of the version does not apply (RFC 9112 §9.3)."""
    if minor == 1:
        return b"" if keep_alive else b"Connection: close\r\n"
    return b"Connection: keep-alive\r\n" if keep_alive else b""


def response_head(
    minor: int,
    status: int,
    fields: bytes,
    content_length: int | None,
    keep_alive: bool,
    date_line: bytes,
    extra: bytes = b"",
) -> bytes:
    """The whole response head: status line, `fields` and `extra` (header lines),
    Content-Length, Date, Server, Connection, and the empty line."""
    length = b"" if content_length is None else b"Content-Length: %d\r\n" % content_length
    return b"".join((
        status_line(minor, status), fields, extra, length, date_line, SERVER_LINE,
        connection_line(minor, keep_alive), b"\r\n",
    ))  # fmt: skip
