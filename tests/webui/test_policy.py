"""Headers for pages and assets: pure rules, no server."""

from __future__ import annotations

import pytest

from webui.policy import (
    accepts_gzip,
    content_security_policy,
    not_modified,
    origin_of,
    page_headers,
)


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_csp_allows_only_this_origin_for_scripts_and_styles() -> None:
    csp = directives(content_security_policy())
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    # Media Source Extensions attach streams as blob: URLs; hls.js starts its worker so.
    assert csp["media-src"] == ["'self'", "blob:"]
    assert csp["worker-src"] == ["'self'", "blob:"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'"]


def test_csp_lets_media_come_from_the_public_url() -> None:
    csp = directives(content_security_policy(["https://videos.example", "https://videos.example"]))
    assert csp["connect-src"] == ["'self'", "https://videos.example"]
    assert csp["media-src"] == ["'self'", "blob:", "https://videos.example"]
    assert csp["img-src"] == ["'self'", "https://videos.example"]
    assert csp["script-src"] == ["'self'"]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Videos.Example/base/", "https://videos.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/x", "http://[::1]:8080"),
        (None, None),
        ("", None),
        ("ftp://example.com", None),
        ("https://user@example.com", None),
        ("https://exa mple.com", None),
        ("https://example.com;script-src *", None),
        ("/relative", None),
    ],
)
def test_origin_of(url: str | None, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_pages_are_never_stored() -> None:
    headers = page_headers("default-src 'self'")
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Security-Policy"] == "default-src 'self'"
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("br", False),
        ("", False),
        (None, False),
        ("gzip;q=banana", False),
    ],
)
def test_accepts_gzip(header: str | None, wanted: bool) -> None:
    """RFC 9110 §12.5.3: q=0 means "not acceptable"; `*` matches codings not listed."""
    assert accepts_gzip(header) is wanted


@pytest.mark.parametrize(
    ("if_none_match", "result"),
    [
        ('"abc"', True),
        ('W/"abc"', True),  # weak comparison (RFC 9110 §13.1.2)
        ('"x", "abc"', True),
        ("*", True),
        ('"abd"', False),
        ("abc", False),
        ("", False),
        (None, False),
    ],
)
def test_not_modified(if_none_match: str | None, result: bool) -> None:
    assert not_modified(if_none_match, '"abc"') is result
