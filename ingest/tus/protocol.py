"""The tus 1.0 protocol's header rules, as pure functions (no I/O, unit-tested alone).

Section names refer to https://tus.io/protocols/resumable-upload (version 1.0.0).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from ingest.params import too_large_error
from vodstack.errors import ApiError, ErrorCode

TUS_VERSION = "1.0.0"
SUPPORTED_VERSIONS = (TUS_VERSION,)
EXTENSIONS = (
    "creation", "creation-with-upload", "creation-defer-length", "termination", "checksum",
    "expiration",
)
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}
MAX_METADATA_LENGTH = 4096
MAX_METADATA_PAIRS = 32
_INTEGER_RE = re.compile(r"[0-9]{1,19}")
_METADATA_KEY_RE = re.compile(r"[\x21-\x2b\x2d-\x7e]{1,128}")  # visible ASCII, no comma


def bad_request(message: str) -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST, message)


def check_version(value: str | None) -> None:
    """§ Core Protocol, Tus-Resumable: every request but OPTIONS carries a supported one."""
    if value is None:
        raise ApiError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"Send the header Tus-Resumable: {TUS_VERSION}.",
            headers={"Tus-Version": ",".join(SUPPORTED_VERSIONS)},
        )
    if value.strip() not in SUPPORTED_VERSIONS:
        raise ApiError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"tus version {value.strip()[:20]!r} is not supported; this server speaks "
            f"{', '.join(SUPPORTED_VERSIONS)}.",
            headers={"Tus-Version": ",".join(SUPPORTED_VERSIONS)},
        )


def parse_integer(name: str, value: str | None) -> int | None:
    """A non-negative integer header (Upload-Offset, Upload-Length), None when absent."""
    if value is None:
        return None
    text = value.strip()
    if not _INTEGER_RE.fullmatch(text):
        raise bad_request(f"{name} must be a non-negative integer, got {text[:30]!r}.")
    return int(text)


@dataclass(frozen=True)
class Creation:
    """What a creation request (§ Creation) asks for."""

    length: int | None
    """None: deferred (Upload-Defer-Length: 1)."""
    metadata: dict[str, str]


def parse_creation(headers: Mapping[str, str], max_size: int) -> Creation:
    length = parse_integer("Upload-Length", headers.get("Upload-Length"))
    defer = headers.get("Upload-Defer-Length")
    if length is None and defer is None:
        raise bad_request("Send Upload-Length (or Upload-Defer-Length: 1 if it is not known).")
    if length is not None and defer is not None:
        raise bad_request("Send Upload-Length or Upload-Defer-Length, not both.")
    if defer is not None and defer.strip() != "1":
        raise bad_request("Upload-Defer-Length must be 1.")
    if length is not None and length > max_size:
        raise too_large(max_size)
    if length == 0:
        raise ApiError(ErrorCode.EMPTY_BODY, "An upload of 0 bytes is not a video.")
    return Creation(length, parse_metadata(headers.get("Upload-Metadata")))


def too_large(max_size: int) -> ApiError:
    return too_large_error(max_size)


def parse_metadata(value: str | None) -> dict[str, str]:
    """§ Creation, Upload-Metadata: `key base64value` pairs separated by commas.

    Keys are unique, without spaces or commas; a value may be absent (empty). Values are
    decoded as UTF-8 (undecodable bytes replaced): they are labels, never keys or paths.
    """
    if value is None or not value.strip():
        return {}
    if len(value) > MAX_METADATA_LENGTH:
        raise bad_request(f"Upload-Metadata is longer than {MAX_METADATA_LENGTH} characters.")
    pairs = [pair.strip() for pair in value.split(",")]
    if len(pairs) > MAX_METADATA_PAIRS:
        raise bad_request(f"Upload-Metadata has more than {MAX_METADATA_PAIRS} pairs.")
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, _, encoded = pair.partition(" ")
        if not _METADATA_KEY_RE.fullmatch(key):
            raise bad_request(f"Upload-Metadata key {key[:40]!r} is empty or has odd characters.")
        if key in metadata:
            raise bad_request(f"Upload-Metadata key {key!r} appears twice.")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"Upload-Metadata value of {key!r} is not base64.") from None
        metadata[key] = raw.decode("utf-8", errors="replace")
    return metadata


def encode_metadata(metadata: Mapping[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def hasher(self) -> Any:
        return CHECKSUM_ALGORITHMS[self.algorithm]()


def parse_checksum(value: str | None) -> Checksum | None:
    """§ Checksum, Upload-Checksum: `<algorithm> <base64 digest>`; 400 if unsupported."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise bad_request(
            f"Checksum algorithm {algorithm[:20]!r} is not supported; use one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}."
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("The Upload-Checksum digest is not base64.") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise bad_request(f"The Upload-Checksum digest has the wrong length for {algorithm}.")
    return Checksum(algorithm, digest)


def check_patch_content_type(value: str | None) -> None:
    """§ Core Protocol, PATCH: the body is `application/offset+octet-stream`, else 415."""
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if media_type != OFFSET_CONTENT_TYPE:
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Send PATCH bodies as Content-Type: {OFFSET_CONTENT_TYPE}.",
        )


def resolve_length(
    current: int | None, declared: int | None, offset: int, max_size: int
) -> int | None:
    """§ creation-defer-length: a deferred length may be set once, by a later PATCH."""
    if declared is None:
        return current
    if current is not None:
        if declared != current:
            raise bad_request(f"Upload-Length is already {current}; it cannot change.")
        return current
    if declared > max_size:
        raise too_large(max_size)
    if declared < offset:
        raise bad_request(f"Upload-Length {declared} is below the {offset} bytes received.")
    return declared


def http_date(timestamp: float) -> str:
    """RFC 9110 §5.6.7 IMF-fixdate, as Upload-Expires wants."""
    return formatdate(timestamp, usegmt=True)


def discovery_headers(max_size: int) -> dict[str, str]:
    """What OPTIONS answers (§ Core Protocol, OPTIONS)."""
    return {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": ",".join(SUPPORTED_VERSIONS),
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
