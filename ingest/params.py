"""Rules for what clients send (query parameters, titles, names, keys), as pure functions.

Each raises `ApiError` with a message that names the parameter and what is accepted.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Mapping

from vodstack import request_ids
from vodstack.catalog import VideoStatus
from vodstack.catalog.base import decode_cursor
from vodstack.errors import ApiError, ErrorCode
from vodstack.humanize import format_size

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_TITLE_LENGTH = 200
MAX_FILENAME_LENGTH = 255
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_REQUEST_ID_LENGTH = request_ids.MAX_LENGTH
MULTIPART_OVERHEAD = 64 * 1024
"""Room for boundaries and form fields around the file when judging a multipart
Content-Length against the upload limit."""

_IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]+")
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE_RE = re.compile(f"{_TOKEN}/{_TOKEN}")
_ACCEPTED_SOURCE_TYPES = ("video/", "audio/", "application/octet-stream", "application/mp4")


def invalid(name: str, message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_PARAMETER, f"{name}: {message}")


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE_SIZE
    if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise invalid("limit", f"must be a whole number from 1 to {MAX_PAGE_SIZE}, got {text!r}")
    return int(text)


def parse_status(text: str | None) -> VideoStatus | None:
    if text is None or text == "":
        return None
    try:
        return VideoStatus(text)
    except ValueError:
        allowed = ", ".join(str(s) for s in VideoStatus)
        raise invalid("status", f"must be one of {allowed}, got {text!r}") from None


def parse_cursor(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    try:
        decode_cursor(text)
    except ValueError:
        raise invalid("cursor", "is not a cursor this server gave out (use next_cursor)") from None
    return text


def list_query(query: Mapping[str, str]) -> tuple[VideoStatus | None, int, str | None]:
    """`?status=&limit=&cursor=` of `GET /v1/videos`, validated."""
    return parse_status(query.get("status")), parse_limit(query.get("limit")), parse_cursor(
        query.get("cursor")
    )


def validate_title(value: object) -> str:
    """A title: a string of 1 to 200 characters once trimmed, no control characters."""
    if not isinstance(value, str):
        raise invalid("title", "must be a string")
    title = value.strip()
    if not 1 <= len(title) <= MAX_TITLE_LENGTH:
        raise invalid("title", f"must be 1 to {MAX_TITLE_LENGTH} characters, got {len(title)}")
    if any(unicodedata.category(ch) == "Cc" for ch in title):
        raise invalid("title", "must not contain control characters")
    return title


def optional_title(value: str | None) -> str | None:
    """A title given with an upload; an empty one counts as none."""
    if value is None or not value.strip():
        return None
    return validate_title(value)


def clean_filename(name: str | None) -> str | None:
    """The client's file name, kept only as a label: last path part, no control characters.

    It never becomes an object key (keys come from `vodstack.keys`).
    """
    if not name:
        return None
    base = posixpath.basename(name.replace("\\", "/"))
    cleaned = "".join(ch for ch in base if unicodedata.category(ch) not in {"Cc", "Cf"}).strip()
    if cleaned in {"", ".", ".."}:
        return None
    return cleaned[:MAX_FILENAME_LENGTH]


def default_title(filename: str | None) -> str | None:
    """The title a video gets when none is given: its file name without the extension."""
    if not filename:
        return None
    stem = posixpath.splitext(filename)[0].strip() or filename
    return stem[:MAX_TITLE_LENGTH]


def source_content_type(declared: str | None) -> str:
    """Content-Type stored with the original: the declared one when it names media."""
    media_type = (declared or "").split(";", 1)[0].strip().lower()
    if _MEDIA_TYPE_RE.fullmatch(media_type) and media_type.startswith(_ACCEPTED_SOURCE_TYPES):
        return media_type
    return "application/octet-stream"


def idempotency_key(value: str | None) -> str | None:
    """The `Idempotency-Key` header: 1 to 255 visible ASCII characters."""
    if value is None:
        return None
    if not value or len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters, "
            f"got {len(value)}",
        )
    if not _IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise ApiError(
            ErrorCode.BAD_REQUEST, "Idempotency-Key must be visible ASCII characters, no spaces"
        )
    return value


def request_id(value: str | None) -> str:
    """The caller's `X-Request-Id` when it is sane, else a fresh one."""
    return request_ids.request_id_from(value)


def too_large_error(limit: int) -> ApiError:
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The upload is larger than the limit of {format_size(limit)} ({limit} bytes).",
    )


def declared_too_large(content_length: int | None, *, multipart: bool, limit: int) -> bool:
    """Whether a declared Content-Length already proves the file is over the limit."""
    if content_length is None:
        return False
    allowance = MULTIPART_OVERHEAD if multipart else 0
    return content_length > limit + allowance
