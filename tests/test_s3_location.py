"""S3 URL parsing and request policy: pure functions, no server."""

from __future__ import annotations

import pytest

from vodstack.settings import SettingsError
from vodstack.store.s3_location import (
    DEFAULT_REGION,
    MAX_PARTS,
    MIN_PART_SIZE,
    PART_SIZE,
    byte_range,
    parse_s3_url,
    part_size_for,
    total_size,
)


def test_full_url() -> None:
    location = parse_s3_url(
        "s3://media-bucket?endpoint=http://minio:9000/&region=eu-west-1&prefix=/vod/prod/",
        environ={},
    )
    assert location.bucket == "media-bucket"
    assert location.endpoint == "http://minio:9000"
    assert location.region == "eu-west-1"
    assert location.prefix == "vod/prod/"
    assert location.object_key("videos/a/master.m3u8") == "vod/prod/videos/a/master.m3u8"
    assert location.store_key("vod/prod/videos/a/master.m3u8") == "videos/a/master.m3u8"


def test_region_comes_from_url_then_setting_then_environment_then_default() -> None:
    url = "s3://bucket?endpoint=http://h:9000"
    assert parse_s3_url(url + "&region=a", region="b", environ={"AWS_REGION": "c"}).region == "a"
    assert parse_s3_url(url, region="b", environ={"AWS_REGION": "c"}).region == "b"
    assert parse_s3_url(url, environ={"AWS_REGION": "c"}).region == "c"
    assert parse_s3_url(url, environ={"AWS_DEFAULT_REGION": "d"}).region == "d"
    assert parse_s3_url(url, environ={}).region == DEFAULT_REGION


def test_aws_itself_needs_no_endpoint() -> None:
    location = parse_s3_url("s3://bucket", environ={})
    assert location.endpoint is None and location.prefix == ""
    assert location.object_key("a/b") == "a/b"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("s3://Bad_Bucket?endpoint=http://h:9000", "not a valid bucket name"),
        ("s3://ab", "not a valid bucket name"),
        ("s3://bucket/some/path", "not in the path"),
        ("s3://bucket?endpoint=minio:9000", "endpoint must look like"),
        ("s3://bucket?endpoint=ftp://h", "endpoint must look like"),
        ("s3://bucket?endpoint=http://h:9000&secret=x", "unknown parameter"),
        ("s3://bucket?prefix=a/../b", "invalid key prefix"),
        ("file:///tmp/x", "not an s3:// URL"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        parse_s3_url(url, environ={})


@pytest.mark.parametrize(
    ("offset", "length", "header"),
    [
        (0, None, None),
        (-5, None, None),
        (10, None, "bytes=10-"),
        (0, 1, "bytes=0-0"),
        (100, 50, "bytes=100-149"),
    ],
)
def test_byte_range(offset: int, length: int | None, header: str | None) -> None:
    assert byte_range(offset, length) == header


def test_an_empty_range_has_no_header() -> None:
    with pytest.raises(ValueError):
        byte_range(0, 0)


def test_total_size_from_content_range() -> None:
    assert total_size("bytes 100-149/1000", 50) == 1000
    assert total_size(None, 1000) == 1000
    assert total_size("bytes 0-9/*", 10) == 10


def test_part_size_grows_so_any_allowed_upload_fits() -> None:
    assert part_size_for(None) == PART_SIZE
    assert part_size_for(1024) == PART_SIZE
    assert part_size_for(1024, default=1) == MIN_PART_SIZE
    huge = 500 * 1024**3
    assert part_size_for(huge) * MAX_PARTS >= huge
