"""Generated requests against a running origin: never a 5xx, never a byte from outside.

A seeded generator (so a failure replays) mixes path fragments that try to escape the
video's prefix with valid and invalid Range and conditional headers.
"""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import pytest

from origin.validators import format_http_date
from tests.support.origin_server import SERVERS, VIDEO_ID, running_origin
from tests.support.rawhttp import raw_request

REQUESTS = 1000
SEED = 20240611
SECRET = b"fuzz-secret-7f3c9a1e5b2d4068"

PATH_PARTS = [
    VIDEO_ID, "master.m3u8", "v1", "720p", "index.m3u8", "0.m4s", "init.mp4", "poster.jpg",
    "..", ".", "", "%2e%2e", "%2E%2e", "..%2f", "%2f", "%2F", "%5c", "\\", "%00", "%252e%252e",
    "secret.txt", "uploads", "videos", "data", "meta", "tmp", "source", "store", "etc", "passwd",
    "%c0%ae%c0%ae", "..;", "~", "a" * 70, "A" * 16, "x" * 300, "%20", "%ff", "?", "#", "@",
]
METHODS = ["GET"] * 8 + ["HEAD"] * 3 + ["OPTIONS", "POST", "DELETE", "PROPFIND", "TRACE"]
ETAGS = ['"x"', "*", 'W/"x"', '"', "W/", "garbage", '"a,b"', '""', ",,,", "W/W/\"x\""]
DATES = [
    "Sun, 06 Nov 1994 08:49:37 GMT", "Fri, 01 Jan 2100 00:00:00 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "yesterday", "0", "-1",
    "Sun, 31 Feb 2020 99:99:99 GMT", "Sat, 01 Jan 0000 00:00:00 GMT", "9" * 400,
]


def random_number(rng: random.Random) -> str:
    return rng.choice(["0", "1", "7", "99", "100", "1000", "65535", "9" * rng.randint(1, 40)])


def random_range(rng: random.Random) -> str:
    specs = []
    for _ in range(rng.choice([1, 1, 1, 2, 3, 70])):
        form = rng.randrange(6)
        if form == 0:
            specs.append(f"{random_number(rng)}-{random_number(rng)}")
        elif form == 1:
            specs.append(f"{random_number(rng)}-")
        elif form == 2:
            specs.append(f"-{random_number(rng)}")
        elif form == 3:
            specs.append(rng.choice(["-", "--1", "a-b", "1-2-3", " ", "", "0x1-2"]))
        else:
            a = rng.randrange(0, 300)
            specs.append(f"{a}-{a + rng.randrange(0, 300)}")
    unit = rng.choice(["bytes=", "bytes=", "BYTES=", "items=", "bytes ", ""])
    return unit + ",".join(specs)


def random_target(rng: random.Random, published: list[str]) -> str:
    if rng.random() < 0.4:
        return "/v/" + rng.choice(published).removeprefix("videos/")
    depth = rng.randint(1, 7)
    parts = [rng.choice(PATH_PARTS) for _ in range(depth)]
    if rng.random() < 0.7:
        parts.insert(0, VIDEO_ID)
    prefix = rng.choice(["/v/", "/v/", "/v/", "/", "//v/", "/v//", "/V/"])
    target = prefix + "/".join(parts)
    if rng.random() < 0.1:
        target += "?" + rng.choice(["x=1", "../../secret.txt", "%00"])
    return target


def random_headers(rng: random.Random, etags: list[str], dates: list[str]) -> dict[str, str]:
    """Conditional headers drawn from garbage and from the objects' real validators."""
    etags = ETAGS + etags * 3 + [f"W/{tag}" for tag in etags]
    dates = DATES + dates * 3
    headers: dict[str, str] = {}
    if rng.random() < 0.5:
        headers["Range"] = random_range(rng)
    if rng.random() < 0.25:
        headers["If-None-Match"] = rng.choice(etags)
    if rng.random() < 0.15:
        headers["If-Match"] = rng.choice(etags)
    if rng.random() < 0.25:
        headers["If-Modified-Since"] = rng.choice(dates)
    if rng.random() < 0.1:
        headers["If-Unmodified-Since"] = rng.choice(dates)
    if rng.random() < 0.25:
        headers["If-Range"] = rng.choice(etags + dates)
    return headers


def check_body(
    published: dict[str, bytes],
    method: str,
    target: str,
    status: int,
    headers: dict[str, str],
    body: bytes,
) -> None:
    """Only published objects are ever served, and exactly their bytes."""
    key = "videos/" + target.removeprefix("/v/")
    assert key in published, (target, status)
    data = published[key]
    if method == "HEAD":
        assert body == b"" and headers["content-length"] == str(len(data))
    elif status == 200:
        assert body == data, target
    else:
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers["content-range"])
        assert match is not None, headers
        start, end, size = (int(group) for group in match.groups())
        assert size == len(data) and body == data[start : end + 1], (target, headers)


def plant(store_dir: Path) -> None:
    """The secret outside videos/<id>/ in every place a traversal could reach."""
    for path in (
        store_dir.parent / "secret.txt",
        store_dir / "secret.txt",
        store_dir / "data" / "secret.txt",
        store_dir / "data" / "videos" / "secret.txt",
        store_dir / "data" / "uploads" / VIDEO_ID / "source",
        store_dir / "meta" / "secret.txt",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SECRET)


@pytest.mark.parametrize("server", SERVERS)
async def test_generated_requests_never_fail_or_leak(tmp_path: Path, server: str) -> None:
    rng = random.Random(SEED)
    async with running_origin(tmp_path, server=server) as origin:
        store = origin.store
        published = {
            f"videos/{VIDEO_ID}/master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF\nv1/720p/index.m3u8\n",
            f"videos/{VIDEO_ID}/v1/720p/index.m3u8": b"#EXTM3U\n#EXT-X-ENDLIST\n",
            f"videos/{VIDEO_ID}/v1/720p/0.m4s": bytes(range(256)) * 4,
            f"videos/{VIDEO_ID}/v1/720p/init.mp4": b"",
        }
        etags, dates = [], []
        for key, data in published.items():
            info = await store.put_bytes(key, data, content_type="x")
            etags.append(info.etag)
            dates.append(format_http_date(info.last_modified))
        plant(origin.store_dir)

        statuses: dict[int, int] = {}
        async with asyncio.timeout(120):
            for number in range(REQUESTS):
                method = rng.choice(METHODS)
                target = random_target(rng, list(published))
                headers = random_headers(rng, etags, dates)
                raw = await raw_request(origin.host, origin.port, method, target, headers)
                context = (number, method, target, headers, raw.status, raw.body[:300])
                assert raw.status < 500, context
                assert SECRET not in raw.raw, context
                if raw.status in {200, 206}:
                    check_body(published, method, target, raw.status, raw.headers, raw.body)
                statuses[raw.status] = statuses.get(raw.status, 0) + 1
        # The generator reached every kind of answer, not only refusals.
        assert {200, 206, 304, 400, 404, 405, 412, 416} <= statuses.keys(), statuses
        print(f"statuses: {dict(sorted(statuses.items()))}")
