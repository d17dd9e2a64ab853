"""Pure rules of the upload API: parameters, names, base URLs and the JSON presenter."""

from __future__ import annotations

import pytest

from ingest import params, presenter, urls
from vodstack.catalog import Rendition, Video, VideoStatus
from vodstack.catalog.base import encode_cursor
from vodstack.errors import ApiError
from vodstack.humanize import format_size

BASE = "https://v.example"


# -- parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [(None, 20), ("1", 1), ("100", 100), ("37", 37)])
def test_limit(text: str | None, expected: int) -> None:
    assert params.parse_limit(text) == expected


@pytest.mark.parametrize("text", ["0", "101", "", "1.5", "-3", "ten", "٣"])
def test_bad_limits(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        params.parse_limit(text)
    assert caught.value.error.code == "invalid_parameter"
    assert "limit" in caught.value.message


def test_status_filter() -> None:
    assert params.parse_status("ready") is VideoStatus.READY
    assert params.parse_status(None) is None
    with pytest.raises(ApiError, match="queued, processing, ready, failed"):
        params.parse_status("done")


def test_cursor_round_trip_and_garbage() -> None:
    cursor = encode_cursor(Video(id="AAAAAAAAAAAAAAAA", created_at=5.0))
    assert params.parse_cursor(cursor) == cursor
    for garbage in ("!!!", "e30", "WyJ4IiwgMV0"):
        with pytest.raises(ApiError, match="cursor"):
            params.parse_cursor(garbage)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Holiday", "Holiday"), ("  padded  ", "padded"), ("é" * 200, "é" * 200)],
)
def test_valid_titles(value: str, expected: str) -> None:
    assert params.validate_title(value) == expected


@pytest.mark.parametrize("value", ["", "   ", "x" * 201, 5, None, ["a"], "bell\x07"])
def test_invalid_titles(value: object) -> None:
    with pytest.raises(ApiError, match="title"):
        params.validate_title(value)


def test_empty_upload_title_means_none() -> None:
    assert params.optional_title(None) is None
    assert params.optional_title("  ") is None
    assert params.optional_title(" x ") == "x"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\clip.mov", "clip.mov"),
        ("a\x00b\u202ec.mp4", "abc.mp4"),
        ("..", None),
        ("dir/", None),
        ("", None),
        (None, None),
        ("x" * 300 + ".mp4", "x" * 255),
    ],
)
def test_clean_filename(name: str | None, expected: str | None) -> None:
    assert params.clean_filename(name) == expected


def test_default_title_is_the_file_stem() -> None:
    assert params.default_title("Holiday 2024.mp4") == "Holiday 2024"
    assert params.default_title(".hidden") == ".hidden"
    assert params.default_title(None) is None


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("video/mp4", "video/mp4"),
        ("Video/QuickTime; charset=x", "video/quicktime"),
        ("application/x-www-form-urlencoded", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
        ("video/mp4\r\nX: y", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_source_content_type(declared: str | None, expected: str) -> None:
    assert params.source_content_type(declared) == expected


def test_idempotency_keys() -> None:
    assert params.idempotency_key(None) is None
    assert params.idempotency_key("k" * 255) == "k" * 255
    for bad in ("k" * 256, "", "with space", "naïve"):
        with pytest.raises(ApiError, match="Idempotency-Key"):
            params.idempotency_key(bad)


def test_request_id_kept_when_sane_else_generated() -> None:
    assert params.request_id("abc-123") == "abc-123"
    generated = params.request_id("bad id\n")
    assert generated != "bad id\n" and len(generated) == 32
    assert params.request_id(None) != params.request_id(None)


def test_declared_size_rule() -> None:
    limit = 1000
    assert not params.declared_too_large(None, multipart=False, limit=limit)
    assert not params.declared_too_large(1000, multipart=False, limit=limit)
    assert params.declared_too_large(1001, multipart=False, limit=limit)
    # A form may carry boundaries and fields around a file that is within the limit.
    assert not params.declared_too_large(1001, multipart=True, limit=limit)
    over = limit + params.MULTIPART_OVERHEAD + 1
    assert params.declared_too_large(over, multipart=True, limit=limit)


def test_too_large_message_in_human_units() -> None:
    error = params.too_large_error(10 * 1024**3)
    assert error.status == 413
    assert "10 GiB" in error.message


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (10 * 1024**3, "10 GiB"),
        (5 * 1024**6, "5120 PiB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


# -- base URL ----------------------------------------------------------------------------


def test_base_url_prefers_public_url() -> None:
    got = urls.base_url(
        "https://v.example/",
        scheme="http",
        host="10.0.0.1:8080",
        forwarded_proto="http",
        forwarded_host="other",
    )
    assert got == "https://v.example"


def test_base_url_from_request_and_forwarded_headers() -> None:
    assert urls.base_url(None, scheme="http", host="127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert (
        urls.base_url(
            None,
            scheme="http",
            host="origin:8080",
            forwarded_proto="https,http",
            forwarded_host="videos.example.org, edge:80",
        )
        == "https://videos.example.org"
    )
    assert urls.base_url(None, scheme="http", host="[::1]:8080") == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("proto", "host"),
    [("javascript", "evil.example/x"), ("ftp", "a b"), ("", "evil\r\nSet-Cookie: x"), ("", "")],
)
def test_base_url_ignores_forged_forwarded_values(proto: str, host: str) -> None:
    got = urls.base_url(
        None, scheme="http", host="origin:8080", forwarded_proto=proto, forwarded_host=host
    )
    assert got == "http://origin:8080"


def test_base_url_with_an_unusable_host_header() -> None:
    assert urls.base_url(None, scheme="http", host="bad host") == "http://localhost"


# -- presenter ---------------------------------------------------------------------------


def _video(**changes: object) -> Video:
    base = Video(
        id="AAAAAAAAAAAAAAAA",
        created_at=1_700_000_000.5,
        updated_at=1_700_000_010.25,
        filename="a.mp4",
        title="A",
        size=123,
    )
    return Video(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_iso8601_is_utc_with_milliseconds() -> None:
    assert presenter.iso8601(1_700_000_000.5) == "2023-11-14T22:13:20.500Z"
    assert presenter.iso8601(0) == "1970-01-01T00:00:00.000Z"


def test_queued_video_json() -> None:
    assert presenter.video_json(_video(), BASE) == {
        "id": "AAAAAAAAAAAAAAAA",
        "status": "queued",
        "title": "A",
        "filename": "a.mp4",
        "size": 123,
        "created_at": "2023-11-14T22:13:20.500Z",
        "updated_at": "2023-11-14T22:13:30.250Z",
        "attempts": 0,
        "status_url": f"{BASE}/v1/videos/AAAAAAAAAAAAAAAA",
        "playable": False,
    }


@pytest.mark.parametrize(("stored", "shown"), [(-5.0, 0.0), (33.333, 33.3), (250.0, 100.0)])
def test_processing_progress_is_clamped(stored: float, shown: float) -> None:
    data = presenter.video_json(_video(status=VideoStatus.PROCESSING, progress=stored), BASE)
    assert data["progress"] == shown


def test_failed_video_always_has_a_reason() -> None:
    data = presenter.video_json(_video(status=VideoStatus.FAILED, error=None), BASE)
    assert data["error"]
    data = presenter.video_json(_video(status=VideoStatus.FAILED, error="not a video"), BASE)
    assert data["error"] == "not a video"


def test_ready_video_json() -> None:
    rendition = Rendition("1080p", 1920, 1080, 6_000_000, 5_000_000, "avc1.640028", 29.97)
    data = presenter.video_json(
        _video(
            status=VideoStatus.READY, duration=12.5, renditions=(rendition,), version="vdeadbeef"
        ),
        BASE,
    )
    assert data["playback_url"] == f"{BASE}/v/AAAAAAAAAAAAAAAA/master.m3u8"
    assert data["poster_url"] == f"{BASE}/v/AAAAAAAAAAAAAAAA/vdeadbeef/poster.jpg"
    assert data["duration"] == 12.5
    assert data["renditions"] == [
        {
            "name": "1080p",
            "width": 1920,
            "height": 1080,
            "resolution": "1920x1080",
            "bandwidth": 6_000_000,
            "average_bandwidth": 5_000_000,
            "codecs": "avc1.640028",
            "frame_rate": 29.97,
        }
    ]
    assert "progress" not in data and "error" not in data


def test_created_and_list_json() -> None:
    assert presenter.created_json("AAAAAAAAAAAAAAAA", BASE) == {
        "id": "AAAAAAAAAAAAAAAA",
        "status": "queued",
        "status_url": f"{BASE}/v1/videos/AAAAAAAAAAAAAAAA",
        "playback_url": f"{BASE}/v/AAAAAAAAAAAAAAAA/master.m3u8",
    }
    page = presenter.list_json([_video()], "CUR", BASE, limit=5, status=VideoStatus.READY)
    assert page["next_cursor"] == "CUR"
    assert page["next_url"] == f"{BASE}/v1/videos?limit=5&cursor=CUR&status=ready"
    assert [v["id"] for v in page["videos"]] == ["AAAAAAAAAAAAAAAA"]
    last = presenter.list_json([], None, BASE, limit=5, status=None)
    assert last == {"videos": [], "next_cursor": None, "next_url": None}
