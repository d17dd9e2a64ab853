"""What the origin answers, apart from the HTTP server that puts it on the wire.

A `Reply` is a status, header fields and a body. `origin.service` decides it; the aiohttp
handler (`origin.handlers`) and the fast HTTP/1.1 server (`origin.fastserver`) send it.
Header fields that depend only on the object are built once per cached object (`Fields`
keeps them both as pairs and as the bytes of their header lines).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from origin.body import Body
from origin.cors import MEDIA_CORS_HEADERS
from origin.http1 import head_prefix
from origin.validators import format_http_date
from vodstack.errors import ApiError
from vodstack.media import cache_control_for, content_type_for
from vodstack.store import ObjectInfo
from vodstack.web import NO_STORE

JSON_TYPE = "application/json; charset=utf-8"
MAX_HEADS_PER_FIELDS = 16


class Fields:
    """Header fields, as name/value pairs and as the bytes of their lines (and the response
    heads made with them, once made)."""

    __slots__ = ("_heads", "pairs", "wire")

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = tuple(pairs)
        self.wire = "".join(f"{name}: {value}\r\n" for name, value in self.pairs).encode(
            "latin-1", "replace"
        )
        self._heads: dict[tuple[int, int, int | None, bool], bytes] = {}

    def head(self, minor: int, status: int, length: int | None, keep_alive: bool) -> bytes:
        """`origin.http1.head_prefix` with these fields, made once per combination."""
        key = (minor, status, length, keep_alive)
        prefix = self._heads.get(key)
        if prefix is None:
            if len(self._heads) > MAX_HEADS_PER_FIELDS:
                self._heads.clear()
            prefix = self._heads[key] = head_prefix(minor, status, self.wire, length, keep_alive)
        return prefix

    def plus(self, *pairs: tuple[str, str]) -> Fields:
        """These fields and `pairs` after them."""
        return Fields((*self.pairs, *pairs))


@dataclass(slots=True)
class Reply:
    status: int
    fields: Fields
    body: Body | bytes | memoryview | None = None
    """Bytes of a small body in memory; None for none (HEAD, 304)."""
    length: int | None = 0
    """Content-Length (also on a HEAD, which sends no body); None: no Content-Length (304)."""


def cache_control(info: ObjectInfo) -> str:
    """The writer's Cache-Control when it stored a usable one, else the policy by key."""
    stored = info.cache_control
    if stored and stored.isascii() and stored.isprintable():
        return stored
    return cache_control_for(info.key)


def validator_pairs(info: ObjectInfo, cache: str | None = None) -> list[tuple[str, str]]:
    """What a 304 repeats from the 200 so caches can update (RFC 9110 §15.4.5)."""
    return [
        ("ETag", info.etag),
        ("Last-Modified", format_http_date(info.last_modified)),
        ("Cache-Control", cache or cache_control(info)),
    ]


def representation_pairs(info: ObjectInfo, cache: str | None = None) -> list[tuple[str, str]]:
    return [
        *validator_pairs(info, cache),
        ("Content-Type", content_type_for(info.key)),
        ("Accept-Ranges", "bytes"),
        ("X-Content-Type-Options", "nosniff"),
    ]


CORS_PAIRS = tuple(MEDIA_CORS_HEADERS.items())


def with_cors(pairs: Iterable[tuple[str, str]]) -> Fields:
    return Fields((*pairs, *CORS_PAIRS))


@dataclass(frozen=True, slots=True)
class ObjectFields:
    """The header fields of the answers about one object, built once per cached object."""

    ok: Fields
    """200 and 206 (a 206 adds Content-Range)."""
    not_modified: Fields

    @classmethod
    def of(cls, info: ObjectInfo) -> ObjectFields:
        return cls(
            ok=with_cors(representation_pairs(info)),
            not_modified=with_cors(validator_pairs(info)),
        )


def error_reply(error: ApiError) -> Reply:
    """The JSON error body every vodstack service answers with, plus the media CORS
    headers (so a player script sees the error instead of a CORS failure)."""
    body = json.dumps(error.body()).encode()
    pairs = {"Cache-Control": NO_STORE, **error.headers, "Content-Type": JSON_TYPE}
    return Reply(error.status, with_cors(pairs.items()), body, len(body))
