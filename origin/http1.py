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
from http import HTTPStatus

from aiohttp.http import SERVER_SOFTWARE

MAX_HEAD_BYTES = 8190
"""Larger heads go to aiohttp (whose own limit per line is the same)."""
MAX_FIELDS = 100

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version; origin-form only
# (§3.2.1), no fragment.
_REQUEST_LINE_RE = re.compile(r"(GET|HEAD) (/[!-\"$-~]*) HTTP/1\.([01])")
# RFC 9112 §5 / RFC 9110 §5.6.2: field-name is a token, then ":"; the value here is visible
# ASCII, space or tab only (no obs-text, no obs-fold). Checked over all lines at once.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD_LINES_RE = re.compile(rf"(?:{_TOKEN}:[\t -~]*\r\n)*{_TOKEN}:[\t -~]*")
_NOT_OURS = frozenset({"content-length", "transfer-encoding", "expect", "upgrade"})
_OWS = " \t"


class RequestHead:
    __slots__ = ("fields", "keep_alive", "method", "minor", "path", "query")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        minor: int,
        fields: dict[str, str],
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.path = path
        """Raw (still percent-encoded) path of the target."""
        self.query = query
        """Raw query, without the `?`."""
        self.minor = minor
        """HTTP/1.`minor`."""
        self.fields = fields
        """By lower-case name; repeated lines combined with ", " (RFC 9110 §5.3)."""
        self.keep_alive = keep_alive


def parse_head(head: bytes) -> RequestHead | None:
    """The request whose head is `head` (up to, not including, the empty line), if it is
    one the fast server answers; None otherwise."""
    if len(head) > MAX_HEAD_BYTES:
        return None
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return None
    request_line, _, field_lines = text.partition("\r\n")
    match = _REQUEST_LINE_RE.fullmatch(request_line)
    if match is None:
        return None
    fields: dict[str, str] = {}
    if field_lines:
        if _FIELD_LINES_RE.fullmatch(field_lines) is None:
            return None
        lines = field_lines.split("\r\n")
        if len(lines) > MAX_FIELDS:
            return None
        for line in lines:
            name, _, value = line.partition(":")
            name = name.lower()
            value = value.strip(_OWS)
            fields[name] = f"{fields[name]}, {value}" if name in fields else value
        if not _NOT_OURS.isdisjoint(fields):
            return None
    method, target, minor_text = match.groups()
    path, _, query = target.partition("?")
    minor = 1 if minor_text == "1" else 0
    connection = fields.get("connection")
    keep_alive = minor == 1 if connection is None else _keep_alive(minor, connection)
    return RequestHead(method, path, query, minor, fields, keep_alive)


def _keep_alive(minor: int, connection: str) -> bool:
    """RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`."""
    options = {option.strip(_OWS).lower() for option in connection.split(",")}
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
    return b"".join((
        head_prefix(minor, status, fields, content_length, keep_alive), date_line, extra,
        b"\r\n",
    ))  # fmt: skip


def head_prefix(
    minor: int, status: int, fields: bytes, content_length: int | None, keep_alive: bool
) -> bytes:
    """The part of a response head that is the same for every answer with these values
    (all but the Date and per-request fields, and the empty line that ends the head)."""
    length = b"" if content_length is None else b"Content-Length: %d\r\n" % content_length
    return b"".join((
        status_line(minor, status), fields, length, SERVER_LINE,
        connection_line(minor, keep_alive),
    ))  # fmt: skip
