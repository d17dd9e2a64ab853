"""A few tus requests by hand (aiohttp), so tests can send exactly what they mean to."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def offset(self) -> int:
        return int(self.headers["Upload-Offset"])


async def send(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: object
) -> Answer:
    async with http.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
        return Answer(response.status, response.headers, await response.read())


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def sha1_header(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


async def create(
    http: aiohttp.ClientSession,
    base: str,
    length: int | None,
    *,
    headers: Mapping[str, str] | None = None,
    **meta: str,
) -> str:
    sent = {**TUS, **(headers or {})}
    if length is None:
        sent["Upload-Defer-Length"] = "1"
    else:
        sent["Upload-Length"] = str(length)
    if meta:
        sent["Upload-Metadata"] = metadata(**meta)
    answer = await send(http, "POST", f"{base}/v1/uploads", headers=sent)
    assert answer.status == 201, (answer.status, answer.body)
    return answer.headers["Location"]


async def patch(
    http: aiohttp.ClientSession,
    location: str,
    offset: int,
    data: bytes,
    *,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    sent = {**TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE, **(headers or {})}
    return await send(http, "PATCH", location, data=data, headers=sent)


async def head(
    http: aiohttp.ClientSession, location: str, headers: Mapping[str, str] | None = None
) -> Answer:
    return await send(http, "HEAD", location, headers={**TUS, **(headers or {})})


async def upload_all(
    http: aiohttp.ClientSession,
    base: str,
    data: bytes,
    chunk: int,
    *,
    headers: Mapping[str, str] | None = None,
    **meta: str,
) -> str:
    location = await create(http, base, len(data), headers=headers, **meta)
    offset = 0
    while offset < len(data):
        answer = await patch(http, location, offset, data[offset:offset + chunk], headers=headers)
        assert answer.status == 204, (answer.status, answer.body)
        offset = answer.offset
    return location
