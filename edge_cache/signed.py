"""Signed playback at the edge: check every media request's token, cache without it.

With a playback secret the edge, for each `/v/<video_id>/...` request:

1. checks the `?token=` for that video on every request, hits included (403 JSON else);
2. drops the token from the URL, so the cache key (and the collapsed fetch) is the same
   for every viewer: two viewers with different tokens share one stored copy;
3. fetches from the origin with a short token of its own in `Vodstack-Playback-Token`
   (the header asks the origin for the playlist as stored, without rewriting);
4. puts the viewer's own token into playlist URIs on the way out, per response, marked
   `private`. The cache only ever holds token-free playlists, so no viewer is sent
   another's token.

Range and If-Range are dropped from playlist requests: the rewritten body's offsets are
not the stored one's (RFC 9110 §14.2 lets a server ignore Range).
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from edge_cache.messages import HeaderPairs
from edge_cache.proxy import EdgeProxy
from vodstack.errors import ApiError, ErrorCode
from vodstack.keys import is_video_id
from vodstack.media import PLAYLIST_TYPE, is_playlist
from vodstack.playback.playlists import private_cache_control, sign_playlist
from vodstack.playback.tokens import QUERY_PARAMETER, check, token_for
from vodstack.web import error_response

TOKEN_HEADER = "Vodstack-Playback-Token"
UPSTREAM_TOKEN_TTL = 300.0
MEDIA_PREFIX = "/v/"
_VIEWER_TOKEN: web.RequestKey[str] = web.RequestKey("edge_viewer_token", str)
_RANGE_FIELDS = ("Range", "If-Range")


def media_video_id(path: str) -> str | None:
    """The video id of a `/v/<video_id>/...` path, None for any other path."""
    if not path.startswith(MEDIA_PREFIX):
        return None
    video_id = path[len(MEDIA_PREFIX):].split("/", 1)[0]
    return video_id if is_video_id(video_id) else None


def without_token(url: URL) -> URL:
    query = [(k, v) for k, v in url.query.items() if k != QUERY_PARAMETER]
    return url.with_query(query)


class PlaybackGuard:
    """The edge's request handler when playback is signed (wraps `EdgeProxy.handle`)."""

    def __init__(self, proxy: EdgeProxy, secret: str) -> None:
        self.proxy = proxy
        self.secret = secret
        proxy.upstream_fields = self.upstream_fields
        proxy.body_filter = self
        proxy.hit_key = self.hit_key

    async def handle(self, request: web.Request) -> web.StreamResponse:
        video_id = media_video_id(request.path)
        if video_id is None or request.method not in {"GET", "HEAD"}:
            return await self.proxy.handle(request)
        token = request.query.get(QUERY_PARAMETER)
        problem = check(self.secret, video_id, token)
        if problem is not None:
            response = error_response(ApiError(
                ErrorCode.INVALID_TOKEN, problem.value[0].upper() + problem.value[1:] + "."
            ))
            response.headers["Access-Control-Allow-Origin"] = "*"  # a player script sees why
            return response
        assert token is not None
        headers = request.headers.copy()
        headers.popall(TOKEN_HEADER, None)
        if is_playlist(request.path):
            for name in _RANGE_FIELDS:
                headers.popall(name, None)
        shared = request.clone(rel_url=without_token(request.rel_url), headers=headers)
        shared[_VIEWER_TOKEN] = token
        return await self.proxy.handle(shared)

    def upstream_fields(self, key: str) -> HeaderPairs:
        video_id = media_video_id(key)
        if video_id is None:
            return []
        return [(TOKEN_HEADER, token_for(self.secret, video_id, UPSTREAM_TOKEN_TTL))]

    # -- the proxy's body filter: the viewer's token into playlists ------------------------

    def wanted(self, request: web.Request, status: int, content_type: str | None) -> bool:
        return _VIEWER_TOKEN in request and self.may_rewrite(status, content_type)

    def may_rewrite(self, status: int, content_type: str | None) -> bool:
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        return status == 200 and (media_type == PLAYLIST_TYPE or media_type == "audio/mpegurl")

    def hit_key(self, target: str) -> str | None:
        """The hit path's cache key for a request target: as `handle` computes it (the URL
        without the token) when the token opens the video; None when the full path must
        answer (no or bad token: a 403 there; playlists: rewritten per viewer)."""
        if not target.startswith(MEDIA_PREFIX):
            return target
        path, _, query = target.partition("?")
        url = URL.build(path=path, query_string=query, encoded=True)  # as aiohttp's parser
        video_id = media_video_id(url.path)
        if video_id is None:
            return target
        if is_playlist(url.path) or check(
            self.secret, video_id, url.query.get(QUERY_PARAMETER)
        ) is not None:
            return None
        return str(without_token(url))

    def rewrite(self, request: web.Request, body: bytes) -> bytes:
        token = request[_VIEWER_TOKEN]
        return sign_playlist(body.decode("utf-8", errors="replace"), token).encode()

    def rewrite_headers(self, headers: CIMultiDict[str]) -> None:
        cache_control = headers.get("Cache-Control")
        if cache_control:
            headers["Cache-Control"] = private_cache_control(cache_control)
