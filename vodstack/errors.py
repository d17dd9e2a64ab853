"""Every error a user can meet: a stable code, an HTTP status and a default message.

Handlers raise `ApiError(ErrorCode.X, "specific message")`; one middleware turns it into
`{"error": {"code": ..., "message": ...}}` with the status from this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class ErrorCode(Enum):
    # value: (code, status, default message)
    BAD_REQUEST = ("bad_request", 400, "The request is malformed.")
    EMPTY_BODY = (
        "empty_body", 400, "The request has no body; send the video file as the body.",
    )
    MISSING_FILE = ("missing_file", 400, "The multipart form has no 'file' field.")
    INVALID_PARAMETER = ("invalid_parameter", 400, "A query parameter is invalid.")
    UNAUTHORIZED = (
        "unauthorized", 401, "An API key is required: send Authorization: Bearer <key>.",
    )
    FORBIDDEN = ("forbidden", 403, "This key or token does not allow this request.")
    NOT_FOUND = ("not_found", 404, "Nothing here.")
    VIDEO_NOT_FOUND = ("video_not_found", 404, "No video with this id.")
    NOT_PUBLISHED = ("not_published", 404, "This video is not published (yet).")
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, "This method is not allowed here.")
    REQUEST_TIMEOUT = (
        "request_timeout", 408, "The request body stopped arriving; send it again.",
    )
    CONFLICT = ("conflict", 409, "The request conflicts with the current state.")
    IDEMPOTENCY_IN_PROGRESS = (
        "idempotency_in_progress", 409,
        "A request with this Idempotency-Key is still in progress; retry later.",
    )
    PRECONDITION_FAILED = ("precondition_failed", 412, "A precondition of the request failed.")
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413, "The upload is larger than the limit.")
    URI_TOO_LONG = ("uri_too_long", 414, "The URL is too long.")
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415, "This content type is not accepted.")
    RANGE_NOT_SATISFIABLE = (
        "range_not_satisfiable", 416, "The requested range is not satisfiable.",
    )
    EXPECTATION_FAILED = ("expectation_failed", 417, "Only 'Expect: 100-continue' is understood.")
    HEADERS_TOO_LARGE = ("headers_too_large", 431, "The request headers are too large.")
    INTERNAL = ("internal", 500, "Something went wrong on our side; it has been logged.")
    BAD_GATEWAY = ("bad_gateway", 502, "The upstream server sent an invalid answer.")
    STORE_UNAVAILABLE = (
        "store_unavailable", 503, "The object store is not reachable right now; retry shortly.",
    )
    QUEUE_UNAVAILABLE = (
        "queue_unavailable", 503, "The job queue is not reachable right now; retry shortly.",
    )
    UPSTREAM_UNAVAILABLE = (
        "upstream_unavailable", 503, "No upstream server is reachable right now; retry shortly.",
    )
    GATEWAY_TIMEOUT = ("gateway_timeout", 504, "The upstream server did not answer in time.")
    # Resumable uploads (tus 1.0), keys and tokens.
    INVALID_API_KEY = ("invalid_api_key", 403, "This API key is not valid (unknown or revoked).")
    INVALID_TOKEN = ("invalid_token", 403, "The playback token is missing, forged or expired.")
    UPLOAD_NOT_FOUND = ("upload_not_found", 404, "No resumable upload at this URL.")
    UPLOAD_EXPIRED = (
        "upload_expired", 410, "This upload expired or was terminated; start a new one.",
    )
    OFFSET_MISMATCH = (
        "offset_mismatch", 409, "Upload-Offset does not match the upload's current offset.",
    )
    UNSUPPORTED_VERSION = (
        "unsupported_version", 412, "This tus version is not supported (see Tus-Version).",
    )
    UPLOAD_LOCKED = (
        "upload_locked", 423, "Another request is writing to this upload; retry shortly.",
    )
    CHECKSUM_MISMATCH = (
        "checksum_mismatch", 460, "The body does not match its Upload-Checksum; nothing stored.",
    )

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]

    @property
    def default_message(self) -> str:
        return self.value[2]


_BY_STATUS: dict[int, ErrorCode] = {}
for _error in ErrorCode:
    _BY_STATUS.setdefault(_error.status, _error)


def code_for_status(status: int) -> ErrorCode:
    """The generic error code for an HTTP status (for errors aiohttp raises itself)."""
    return _BY_STATUS.get(status, ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL)


class ApiError(Exception):
    """An error with a code from the table; rendered as JSON by the error middleware."""

    def __init__(
        self,
        error: ErrorCode,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.error = error
        self.message = message or error.default_message
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return self.error.status

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.error.code, "message": self.message}}


class StoreUnavailable(Exception):
    """The object store did not answer (timeout, connection refused, 5xx)."""


class QueueUnavailable(Exception):
    """The job queue / catalogue backend did not answer."""
