"""The tus 1.0 header rules as pure functions (ingest.tus.protocol), no server."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ingest.tus import protocol
from vodstack.errors import ApiError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_metadata_pairs_decode_and_round_trip() -> None:
    header = f"filename {b64('ümlaut clip.mp4')},is_confidential,title {b64('A, B')}"
    metadata = protocol.parse_metadata(header)
    assert metadata == {"filename": "ümlaut clip.mp4", "is_confidential": "", "title": "A, B"}
    assert protocol.parse_metadata(protocol.encode_metadata(metadata)) == metadata
    assert protocol.parse_metadata(None) == {} and protocol.parse_metadata("  ") == {}


@pytest.mark.parametrize(
    "header",
    ["filename !!!", f"a {b64('x')},a {b64('y')}", "a eA==,,b eA==", "k" * 200 + " eA==",
     ",".join(f"k{i} eA==" for i in range(40)), "x" * 5000],
)
def test_bad_metadata_is_400(header: str) -> None:
    with pytest.raises(ApiError) as error:
        protocol.parse_metadata(header)
    assert error.value.status == 400


def test_checksums() -> None:
    digest = hashlib.sha1(b"abc").digest()
    checksum = protocol.parse_checksum("sha1 " + base64.b64encode(digest).decode())
    assert checksum is not None and checksum.algorithm == "sha1" and checksum.digest == digest
    hasher = checksum.hasher()
    hasher.update(b"abc")
    assert hasher.digest() == digest
    assert protocol.parse_checksum(None) is None
    for bad in ("crc32 AAAA", "sha1 not-base64!", "sha1 " + base64.b64encode(b"short").decode()):
        with pytest.raises(ApiError) as error:
            protocol.parse_checksum(bad)
        assert error.value.status == 400


def test_creation_needs_a_length_or_a_deferral_within_the_limit() -> None:
    assert protocol.parse_creation({"Upload-Length": "10"}, 100).length == 10
    assert protocol.parse_creation({"Upload-Defer-Length": "1"}, 100).length is None
    cases = [({}, 400), ({"Upload-Length": "101"}, 413), ({"Upload-Length": "0"}, 400),
             ({"Upload-Length": "1e3"}, 400), ({"Upload-Defer-Length": "0"}, 400),
             ({"Upload-Length": "5", "Upload-Defer-Length": "1"}, 400)]
    for headers, status in cases:
        with pytest.raises(ApiError) as error:
            protocol.parse_creation(headers, 100)
        assert error.value.status == status, headers


def test_a_deferred_length_is_set_once() -> None:
    assert protocol.resolve_length(None, None, 0, 100) is None
    assert protocol.resolve_length(None, 50, 20, 100) == 50
    assert protocol.resolve_length(50, 50, 20, 100) == 50
    assert protocol.resolve_length(50, None, 20, 100) == 50
    for current, declared, offset in ((50, 60, 0), (None, 10, 20)):
        with pytest.raises(ApiError):
            protocol.resolve_length(current, declared, offset, 100)
    with pytest.raises(ApiError) as error:
        protocol.resolve_length(None, 101, 0, 100)
    assert error.value.status == 413


def test_versions_and_content_types() -> None:
    protocol.check_version("1.0.0")
    for bad in (None, "0.2.2", "1.0"):
        with pytest.raises(ApiError) as error:
            protocol.check_version(bad)
        assert error.value.status == 412 and error.value.headers["Tus-Version"] == "1.0.0"
    protocol.check_patch_content_type("application/offset+octet-stream")
    protocol.check_patch_content_type("Application/Offset+Octet-Stream; charset=x")
    with pytest.raises(ApiError) as error:
        protocol.check_patch_content_type("application/octet-stream")
    assert error.value.status == 415


def test_offsets_are_plain_non_negative_integers() -> None:
    assert protocol.parse_integer("Upload-Offset", "0") == 0
    assert protocol.parse_integer("Upload-Offset", None) is None
    for bad in ("-1", "+1", "1.0", "", "0x10", "1" * 25):
        with pytest.raises(ApiError):
            protocol.parse_integer("Upload-Offset", bad)


def test_upload_expires_is_an_http_date() -> None:
    assert protocol.http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
