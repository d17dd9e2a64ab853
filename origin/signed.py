"""Signed playback on the origin: every media request needs a token for its video.

The token comes in the query (`?token=`, from a player) or in the `Vodstack-Playback-Token`
header (from an edge, which checked the player's token itself). Playlists fetched with a
query token are rewritten so every URI in them carries the same token: a player needs only
the signed master URL. Playlists fetched with the header token are sent as stored, so an
edge can cache one copy for every viewer and put each viewer's token in per request
(docs/decisions.md, "Signed playback URLs").

A rewritten playlist keeps the stored ETag: the token is part of the URL, so one URL
always gets the same bytes for one stored playlist, which is all a strong validator must
promise. It is marked `private` (RFC 9111 §5.2.2.7): a shared cache that ignores query
strings, as CDNs are often set up to, must not hand one viewer's token to another. A
Range on a rewritten playlist is ignored (RFC 9110 §14.2 allows it): the whole playlist
is small and the offsets of the stored one would not match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from vodstack.errors import ApiError, ErrorCode
from vodstack.media import is_playlist
from vodstack.playback.playlists import sign_playlist
from vodstack.playback.tokens import QUERY_PARAMETER, check
from vodstack.store import ObjectInfo, ObjectStore

TOKEN_HEADER = "Vodstack-Playback-Token"
MAX_PLAYLIST_BYTES = 8 * 1024 * 1024
_RANGE_FIELDS = ("Range", "If-Range")
_RANGE_NAMES = frozenset(name.lower() for name in _RANGE_FIELDS)


class ObjectChangedWhileReading(Exception):
    pass


@dataclass(frozen=True)
class Grant:
    token: str
    rewrite: bool
    """Put the token into the playlist's URIs (a query token on a playlist)."""


def video_of(key: str) -> str:
    """`videos/<id>/...` → `<id>`."""
    return key.split("/", 2)[1]


def grant_for(request: web.Request, key: str, secret: str) -> Grant:
    """The request's token checked for the video of `key`; 403 JSON when it does not open it."""
    return grant_for_tokens(
        request.query.get(QUERY_PARAMETER), request.headers.get(TOKEN_HEADER), key, secret
    )


def grant_for_tokens(
    query_token: str | None, header_token: str | None, key: str, secret: str
) -> Grant:
    """`grant_for` from the token values: the query's, else the header's."""
    token = query_token if query_token is not None else header_token
    problem = check(secret, video_of(key), token)
    if problem is not None:
        raise ApiError(ErrorCode.INVALID_TOKEN, problem.value[0].upper() + problem.value[1:] + ".")
    assert token is not None
    return Grant(token, rewrite=query_token is not None and is_playlist(key))


def without_range(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    kept = CIMultiDict(headers)
    for name in _RANGE_FIELDS:
        kept.popall(name, None)
    return kept


def fields_without_range(fields: Mapping[str, str]) -> dict[str, str]:
    """Combined request fields (lower-case names) without Range and If-Range."""
    return {name: value for name, value in fields.items() if name not in _RANGE_NAMES}


def sign_bytes(data: bytes, token: str) -> bytes:
    """A stored playlist's bytes with `token` in every URI."""
    return sign_playlist(data.decode("utf-8", errors="replace"), token).encode()


async def read_playlist(store: ObjectStore, info: ObjectInfo) -> bytes:
    """The stored bytes of the playlist `info` describes (the caller bounds the time it may
    take); a playlist too large to sign is a 502."""
    stream = await store.open(info.key)
    try:
        if stream.info.etag != info.etag:
            raise ObjectChangedWhileReading(info.key)
        data = bytearray()
        async for chunk in stream:
            data += chunk
            if len(data) > MAX_PLAYLIST_BYTES:
                raise ApiError(ErrorCode.BAD_GATEWAY, "The playlist is too large to sign.")
    finally:
        await stream.aclose()
    return bytes(data)


async def signed_playlist(store: ObjectStore, info: ObjectInfo, token: str) -> bytes:
    """The stored playlist `info` describes, with `token` in every URI."""
    return sign_bytes(await read_playlist(store, info), token)
