"""Pure S3 policy: what a store URL means, how keys map into the bucket, part sizes.

    s3://BUCKET?endpoint=http://minio:9000&region=eu-west-1&prefix=vod

No I/O here, so every rule is unit-tested without a server.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from vodstack.settings import SettingsError

DEFAULT_REGION = "us-east-1"
MIN_PART_SIZE = 5 * 1024**2
"""S3's smallest allowed part (all but the last)."""
PART_SIZE = 8 * 1024**2
MAX_PARTS = 10_000
DELETE_BATCH = 1000
"""DeleteObjects accepts at most 1000 keys per request."""

# Bucket names as S3 defines them (3-63 chars, lowercase, digits, dots and hyphens).
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
_KNOWN_PARAMS = {"endpoint", "region", "prefix"}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    endpoint: str | None
    """`http(s)://host:port` of an S3-compatible server; None means AWS itself."""
    region: str
    prefix: str = ""
    """Prepended to every key (`prefix/`), so several deployments can share a bucket."""

    def object_key(self, key: str) -> str:
        return self.prefix + key

    def store_key(self, object_key: str) -> str:
        """Inverse of object_key, for keys coming back from a listing."""
        return object_key[len(self.prefix):]

    def describe(self) -> str:
        where = self.endpoint or "AWS"
        return f"s3://{self.bucket}/{self.prefix} at {where}"


def parse_s3_url(
    url: str, *, region: str | None = None, environ: Mapping[str, str] | None = None
) -> S3Location:
    """Parse a store URL; the region is `?region=`, else `region`, else AWS_REGION."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise SettingsError(f"not an s3:// URL: {url!r}")
    bucket = parts.netloc
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise SettingsError(
            f"store URL {url!r}: {bucket!r} is not a valid bucket name "
            "(3-63 lowercase letters, digits, dots or hyphens)"
        )
    if parts.path not in {"", "/"}:
        raise SettingsError(
            f"store URL {url!r}: put a key prefix in ?prefix=..., not in the path"
        )
    params = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(params) - _KNOWN_PARAMS
    if unknown:
        raise SettingsError(
            f"store URL {url!r}: unknown parameter(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_KNOWN_PARAMS))})"
        )
    endpoint = params.get("endpoint") or None
    if endpoint is not None:
        endpoint_parts = urlsplit(endpoint)
        if endpoint_parts.scheme not in {"http", "https"} or not endpoint_parts.netloc:
            raise SettingsError(
                f"store URL {url!r}: endpoint must look like http://host:9000, got {endpoint!r}"
            )
        endpoint = endpoint.rstrip("/")
    prefix = params.get("prefix", "").strip("/")
    if prefix and not _PREFIX_RE.fullmatch(prefix):
        raise SettingsError(f"store URL {url!r}: invalid key prefix {prefix!r}")
    chosen_region = (
        params.get("region")
        or region
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    return S3Location(
        bucket=bucket,
        endpoint=endpoint,
        region=chosen_region,
        prefix=prefix + "/" if prefix else "",
    )


def part_size_for(max_size: int | None, default: int = PART_SIZE) -> int:
    """Part size for a multipart upload: the default, grown so `max_size` fits in 10,000 parts."""
    if max_size is None:
        return default
    return max(default, MIN_PART_SIZE, math.ceil(max_size / MAX_PARTS))


def byte_range(offset: int, length: int | None) -> str | None:
    """The HTTP Range header for `open(offset, length)` (RFC 9110 §14.1.2), None for all."""
    if offset <= 0 and length is None:
        return None
    start = max(offset, 0)
    if length is None:
        return f"bytes={start}-"
    if length <= 0:
        raise ValueError("an empty range has no Range header")
    return f"bytes={start}-{start + length - 1}"


def total_size(content_range: str | None, content_length: int) -> int:
    """The whole object's size from a 206's `Content-Range: bytes a-b/total`."""
    if content_range:
        total = content_range.rpartition("/")[2]
        if total.isdigit():
            return int(total)
    return content_length
