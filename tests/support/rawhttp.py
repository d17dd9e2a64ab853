"""A minimal HTTP/1.1 client over a raw socket, for request targets a normal client would
fix up (`..`, `%2e%2e`, backslashes) and for cutting a connection off mid-body."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes
    raw: bytes


def parse_response(raw: bytes) -> RawResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status=status, headers=headers, body=body, raw=raw)


async def raw_request(
    host: str,
    port: int,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
) -> RawResponse:
    """Send one request exactly as given (Connection: close) and read the whole answer.

    Callers bound it with `asyncio.timeout`.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    return parse_response(raw)
