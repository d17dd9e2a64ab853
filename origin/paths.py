"""From a request's raw URL path to the store key it names, or a 400/404.

The raw (still percent-encoded) path is checked, not the decoded one: a legitimate media
path only ever contains letters, digits, `.`, `_`, `-` and `/`, so anything encoded
(`%2e%2e`, `%2F`, `%00`, `%5C`) is refused before it could mean something else once decoded.
"""

from __future__ import annotations

from vodstack.errors import ApiError, ErrorCode
from vodstack.keys import is_video_id, key_for_media_path

MEDIA_PREFIX = "/v/"


def media_key(raw_path: str) -> str:
    """The object key for `/v/<video_id>/<path>`; ApiError for anything else.

    A path whose video id cannot be one is a 404 (no such video); a well-formed id with a
    malformed rest (dot segments, empty segments, encoded bytes, too deep or too long) is a
    400.
    """
    if not raw_path.startswith(MEDIA_PREFIX):
        raise ApiError(ErrorCode.NOT_FOUND)
    video_id, _, rest = raw_path[len(MEDIA_PREFIX):].partition("/")
    key = key_for_media_path(video_id, rest)
    if key is not None:
        return key
    if not is_video_id(video_id):
        raise ApiError(ErrorCode.VIDEO_NOT_FOUND)
    raise ApiError(
        ErrorCode.BAD_REQUEST,
        "Not a media path: names are letters, digits, '.', '_' and '-', at most "
        "4 levels below the video.",
    )
