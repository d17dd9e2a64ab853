"""The media answer: from a request to a `Reply`, whichever HTTP server asked.

`answer_now` is the path of almost every request: the object is fresh in memory (or an
open file), so the whole answer is decided with no I/O and no task. It returns None when
the answer needs the store; `answer` then does it all (loading, re-checking, streaming),
and turns every failure into its JSON error reply with CORS headers (a player script can
then see a 404 or a 503 instead of a CORS failure).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from origin.body import Body
from origin.breaker import StoreCircuitOpen
from origin.conditional import CONDITIONAL_FIELDS, SEND, Decision, Outcome, evaluate_fields
from origin.objects import Entry, MediaObjects
from origin.paths import media_key
from origin.ranges import unsatisfied_content_range
from origin.replies import (
    Reply,
    cache_control,
    error_reply,
    representation_pairs,
    validator_pairs,
    with_cors,
)
from origin.signed import (
    TOKEN_HEADER,
    Grant,
    ObjectChangedWhileReading,
    fields_without_range,
    grant_for_tokens,
    read_playlist,
    sign_bytes,
)
from origin.source import ObjectChanged
from vodstack.errors import ApiError, ErrorCode, StoreUnavailable
from vodstack.media import NOT_FOUND
from vodstack.playback.playlists import private_cache_control
from vodstack.store import ObjectStore
from vodstack.web import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)

# How often a request decides again when the object is replaced while it is being opened
# (a re-published master playlist); more than that is a store that will not hold still.
MAX_ATTEMPTS = 3
MAX_REMEMBERED_PATHS = 10_000
TOKEN_FIELD = TOKEN_HEADER.lower()


class MediaRequest:
    """What the answer depends on: GET or HEAD of `/v/<video_id>/<path>` (a plain class:
    one is made per request, and a frozen dataclass costs several times more to make)."""

    __slots__ = ("fields", "method", "query_token", "raw_path")

    def __init__(
        self,
        method: str,
        raw_path: str,
        fields: Mapping[str, str],
        query_token: str | None = None,
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        """Still percent-encoded (`origin.paths` checks it as such)."""
        self.fields = fields
        """Header fields by lower-case name, repeated lines combined (RFC 9110 §5.3)."""
        self.query_token = query_token
        """`?token=` of signed playback."""


class MediaService:
    def __init__(
        self,
        objects: MediaObjects,
        store: ObjectStore,
        *,
        playback_secret: str | None,
        timeout: float,
    ) -> None:
        self.objects = objects
        self.store = store
        self.playback_secret = playback_secret
        self.timeout = timeout
        self._remote = objects.local is None
        self._keys: dict[str, str] = {}

    # -- without I/O -----------------------------------------------------------------------

    def answer_now(self, request: MediaRequest) -> Reply | None:
        """The answer when it needs no I/O; None when it needs the store (call `answer`)."""
        try:
            key, grant = self._admit(request)
        except ApiError as exc:
            return error_reply(exc)
        entry = self.objects.fresh(key)
        if entry is None:
            return None
        if grant is not None and grant.rewrite:
            if entry.data is None:
                return None
            return self._signed_reply(request, entry, entry.data, grant)
        outcome = evaluate_fields(request.method, request.fields, entry.info)
        if outcome is SEND and entry.data is not None:
            return entry.whole(request.method == "GET")
        reply = self._reply(request, entry, outcome)
        if reply.body is _NEEDS_IO:
            return None
        return reply

    # -- with I/O --------------------------------------------------------------------------

    async def answer(self, request: MediaRequest) -> Reply:
        try:
            return await self._answer(request)
        except ApiError as exc:
            return error_reply(exc)
        except StoreCircuitOpen as exc:
            log.debug("store circuit open during %s %s", request.method, request.raw_path)
            return error_reply(
                ApiError(
                    ErrorCode.STORE_UNAVAILABLE, headers={"Retry-After": exc.retry_after_header}
                )
            )
        except StoreUnavailable as exc:
            log.warning(
                "store unavailable during %s %s: %s", request.method, request.raw_path, exc
            )
            return error_reply(
                ApiError(ErrorCode.STORE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
            )

    async def _answer(self, request: MediaRequest) -> Reply:
        key, grant = self._admit(request)
        rewrite = grant is not None and grant.rewrite
        plain = (
            self._remote
            and not rewrite
            and request.method == "GET"
            and CONDITIONAL_FIELDS.isdisjoint(request.fields)
        )
        for _attempt in range(MAX_ATTEMPTS):
            fetched: Body | None = None
            try:
                entry = self.objects.fresh(key)
                if entry is None and plain:
                    entry, fetched = await self.objects.fetch(key)  # one GET, no HEAD first
                elif entry is None:
                    entry = await self.objects.get(key)
                if entry is None:
                    raise ApiError(ErrorCode.NOT_PUBLISHED, headers={"Cache-Control": NOT_FOUND})
                if rewrite:
                    assert grant is not None
                    return await self._signed(request, entry, grant)
                outcome = evaluate_fields(request.method, request.fields, entry.info)
                reply = self._reply(request, entry, outcome, fetched)
                if reply.body is fetched:
                    fetched = None  # the reply owns it now
                if reply.body is _NEEDS_IO:
                    start, length = _span(outcome, entry)
                    reply.body = await self.objects.open(entry, start, length)
                return reply
            except (ObjectChanged, ObjectChangedWhileReading):
                log.debug("%s changed while being opened; deciding again", key)
            finally:
                if fetched is not None:
                    await fetched.aclose()
        raise StoreUnavailable(f"{key} kept changing while being opened")

    # -- deciding --------------------------------------------------------------------------

    def _admit(self, request: MediaRequest) -> tuple[str, Grant | None]:
        """The object key of the path and, with signed playback, the token's grant."""
        key = self._keys.get(request.raw_path)
        if key is None:
            key = media_key(request.raw_path)  # ApiError for anything else
            if len(self._keys) >= MAX_REMEMBERED_PATHS:
                self._keys.clear()
            self._keys[request.raw_path] = key
        secret = self.playback_secret
        if secret is None:
            return key, None
        grant = grant_for_tokens(request.query_token, request.fields.get(TOKEN_FIELD), key, secret)
        return key, grant

    def _reply(
        self,
        request: MediaRequest,
        entry: Entry,
        outcome: Outcome,
        fetched: Body | None = None,
    ) -> Reply:
        """The reply for `outcome`; its body is `_NEEDS_IO` when the bytes must be opened."""
        decision = outcome.decision
        if decision is Decision.NOT_MODIFIED:
            return Reply(304, entry.fields.not_modified, None, None)
        if decision is Decision.PRECONDITION_FAILED:
            return error_reply(ApiError(ErrorCode.PRECONDITION_FAILED))
        if decision is Decision.NOT_SATISFIABLE:
            return error_reply(
                ApiError(
                    ErrorCode.RANGE_NOT_SATISFIABLE,
                    headers={
                        "Content-Range": unsatisfied_content_range(entry.info.size),
                        "Accept-Ranges": "bytes",
                    },
                )
            )
        fields = entry.fields.ok
        start, length = _span(outcome, entry)
        if outcome.byte_range is not None:
            content_range = outcome.byte_range.content_range(entry.info.size)
            fields = fields.plus(("Content-Range", content_range))
        reply = Reply(decision.value, fields, None, length)
        if request.method != "GET" or length == 0:
            return reply
        if fetched is not None and start == 0 and length == entry.info.size:
            reply.body = fetched
            return reply
        if entry.data is not None:
            data = entry.data
            reply.body = data if length == len(data) else memoryview(data)[start : start + length]
            return reply
        reply.body = self.objects.body(entry, start, length) or _NEEDS_IO
        return reply

    def _signed_reply(
        self, request: MediaRequest, entry: Entry, data: bytes | None, grant: Grant
    ) -> Reply:
        """A playlist with the request's token in every URI (origin.signed); `data` is the
        stored playlist (None: not needed, or read by the caller)."""
        info = entry.info
        outcome = evaluate_fields(request.method, fields_without_range(request.fields), info)
        cache = private_cache_control(cache_control(info))
        if outcome.decision is Decision.NOT_MODIFIED:
            return Reply(304, with_cors(validator_pairs(info, cache)), None, None)
        if outcome.decision is not Decision.SEND:
            return self._reply(request, entry, outcome)
        assert data is not None
        body = sign_bytes(data, grant.token)
        fields = with_cors(representation_pairs(info, cache))
        return Reply(200, fields, body if request.method == "GET" else None, len(body))

    async def _signed(self, request: MediaRequest, entry: Entry, grant: Grant) -> Reply:
        data = entry.data
        if data is None:
            try:
                async with asyncio.timeout(self.timeout):
                    data = await read_playlist(self.store, entry.info)
            except TimeoutError:
                raise StoreUnavailable(f"no answer in time reading {entry.info.key}") from None
            except OSError as exc:
                raise StoreUnavailable(f"read {entry.info.key}: {exc}") from exc
        return self._signed_reply(request, entry, data, grant)


class _NeedsIO:
    """Marks a reply whose body must still be opened from the store."""

    async def send(self, sink: object) -> None:
        raise RuntimeError("a body that was never opened")

    async def aclose(self) -> None:
        return None


_NEEDS_IO = _NeedsIO()


def _span(outcome: Outcome, entry: Entry) -> tuple[int, int]:
    if outcome.byte_range is not None:
        return outcome.byte_range.start, outcome.byte_range.length
    return 0, entry.info.size
