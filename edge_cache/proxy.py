"""The caching proxy: drives the pure rules, the store and the upstream pool for each request.

Flow of a GET (RFC 9111 §4): select a stored variant → decide (fresh / stale allowed /
stale-while-revalidate / revalidate / fetch) → otherwise one collapsed upstream fetch whose
answer is stored when the rules allow and the object fits, and streamed through when not.
Other methods are forwarded; unsafe ones invalidate what they touch (§4.4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp import HttpVersion11, web
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry
from yarl import URL

from edge_cache.collapse import Collapser, _Lead
from edge_cache.conditional import Answer, Validators, evaluate
from edge_cache.fields import DELTA_SECONDS_MAX, Directives, parse_directives
from edge_cache.messages import (
    CLIENT_PRECONDITIONS,
    HeaderPairs,
    lines_of,
    not_modified_headers,
    split_response_headers,
    stored_headers,
    upstream_request_headers,
    with_via,
)
from edge_cache.metrics import EdgeMetrics
from edge_cache.rules import (
    ERROR_STATUSES,
    RequestFacts,
    ResponseFacts,
    Use,
    analyse_response,
    decide,
    forbids_storing,
    invalidates,
    is_storable,
    may_serve_stale_on_error,
    updated_headers,
)
from edge_cache.store import Entry, ResponseStore, selecting_values
from edge_cache.upstreams import NoUpstreamAvailable, UpstreamError, UpstreamPool
from edge_cache.wire import NO_BODY_STATUSES, RequestHead, StoredWire
from vodstack.access import request_id_of
from vodstack.errors import ApiError, ErrorCode
from vodstack.request_ids import current_request_id
from vodstack.web import error_response

log = logging.getLogger(__name__)

X_CACHE = "X-Cache"
CHUNK = 64 * 1024
_NO_DIRECTIVES: Directives = {}
_PREPARED: web.RequestKey[bool] = web.RequestKey("edge_cache_prepared", bool)
_WARM_REQUEST = RequestFacts("GET")
# Request fields that make the cache evaluate preconditions or a range (RFC 9110 §13, §14).
_CONDITIONAL_NAMES = ("If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since",
                      "If-Range", "Range")


class BodyFilter(Protocol):
    """Rewrites some bodies per request on their way out (signed playlists, edge_cache.signed).

    The cache keeps the upstream's bytes; a filtered body is made for one answer only.
    """

    def wanted(self, request: web.Request, status: int, content_type: str | None) -> bool: ...

    def rewrite(self, request: web.Request, body: bytes) -> bytes: ...

    def rewrite_headers(self, headers: CIMultiDict[str]) -> None:
        """Adjust the answer's fields for the rewritten body (e.g. make it private)."""

    def may_rewrite(self, status: int, content_type: str | None) -> bool:
        """Whether some request could want this answer rewritten (then the hit path leaves
        it to the full path)."""


MAX_FILTERED_BODY = 8 * 1024 * 1024


def _no_upstream_fields(key: str) -> HeaderPairs:
    return []


@dataclass(frozen=True)
class ProxyConfig:
    collapse_timeout: float = 10.0
    """How long a collapsed request waits for the leader before fetching on its own."""
    stale_if_error: float = 60.0
    """Stale window when the upstream fails and the response names none (RFC 9111 §4.2.4)."""


class EdgeProxy:
    def __init__(
        self,
        store: ResponseStore,
        pool: UpstreamPool,
        config: ProxyConfig,
        clock: Callable[[], float] = time.time,
        metrics: EdgeMetrics | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.config = config
        self.clock = clock
        self.metrics = metrics if metrics is not None else EdgeMetrics(CollectorRegistry())
        self.collapser: Collapser[Entry] = Collapser()
        self.stats: Counter[str] = Counter()
        self._refreshing: set[object] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.upstream_fields: Callable[[str], HeaderPairs] = _no_upstream_fields
        """Extra request fields for upstream fetches of a key (e.g. a playback token)."""
        self.body_filter: BodyFilter | None = None
        self.hit_key: Callable[[str], str | None] | None = None
        """The cache key of a request target for the hit path, None to leave the request to
        the full path (set by `edge_cache.signed.PlaybackGuard`); default: the target."""

    # ---------------------------------------------------------------- entry point

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request; each answer is counted by the X-Cache it carries."""
        method = request.method
        try:
            if not request.raw_path.startswith("/"):
                # absolute-form (`GET http://host/...`), `*` or authority-form: this is a
                # reverse proxy for its upstreams, never a forward proxy to another host.
                raise ApiError(ErrorCode.BAD_REQUEST, "The request target must be a path.")
            if method == "GET" or method == "HEAD":
                response = await self._cacheable(request)
            else:
                response = await self._forward(request, "BYPASS", invalidate=True)
        except ApiError:
            self.metrics.answered(None)
            raise
        x_cache = response.headers.get(X_CACHE)
        self.metrics.answered(x_cache)
        if isinstance(response, web.Response) and not response.prepared:
            # Streamed answers counted their bytes as they went (see _stream).
            body = response.body
            size = len(body) if isinstance(body, bytes) and method != "HEAD" else 0
            self.metrics.body_sent(x_cache, size)
        return response

    def fast_entry(self, head: RequestHead, now: float) -> Entry | None:
        """The hit path's question (`edge_cache.hitpath`): a stored response that answers
        this plain GET/HEAD as it is — fresh (RFC 9111 §4.2; the request has no cache
        directives, preconditions, range or credentials: the hit path left those to the
        full path), with a body that needs no per-request rewriting. Counted as a hit."""
        target = head.target.decode("ascii")  # visible ASCII: checked by edge_cache.wire
        key = target if self.hit_key is None else self.hit_key(target)
        if key is None:
            return None
        entry = self.store.select(key, head.get_all)
        if entry is None:
            return None
        facts = entry.facts
        age = facts.initial_age + (now - facts.response_time if now > facts.response_time else 0.0)
        if age >= facts.lifetime or facts.no_cache:
            return None
        status = entry.status
        if status < 200 or status in NO_BODY_STATUSES:
            return None
        if entry.wire is None:
            try:
                entry.wire = StoredWire(
                    entry.status, entry.reason, entry.headers, len(entry.body)
                )
            except UnicodeEncodeError:
                return None  # aiohttp encodes fields the same way and would fail too
        if self.body_filter is not None and self.body_filter.may_rewrite(
            status, _content_type(entry.headers)
        ):
            return None
        self.stats["hit"] += 1
        return entry

    async def close(self) -> None:
        """Wait for background refreshes (called on shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---------------------------------------------------------------- cacheable requests

    async def _cacheable(self, request: web.Request) -> web.StreamResponse:
        now = self.clock()
        headers = request.headers
        key = request.raw_path
        req = RequestFacts(
            request.method,
            parse_directives(headers.getall("Cache-Control"))
            if "Cache-Control" in headers else _NO_DIRECTIVES,
            "Authorization" in headers,
        )
        entry = self.store.select(key, lambda name: headers.getall(name, []))
        if (
            req.has_authorization and entry is not None
            and not entry.facts.usable_with_authorization
        ):
            entry = None  # RFC 9111 §3.5
        use = None
        if entry is not None:
            use = decide(entry.facts, req, now)
            if use is Use.FRESH:
                self.stats["hit"] += 1
                return self._send_entry(request, entry, "HIT", now)
            if use is Use.STALE:
                self.stats["stale"] += 1
                return self._send_entry(request, entry, "STALE", now)
            if use is Use.STALE_WHILE_REVALIDATE:
                self.stats["stale"] += 1
                self._refresh_later(request, req, entry)
                return self._send_entry(request, entry, "STALE", now)
        if "only-if-cached" in req.directives:
            raise ApiError(  # RFC 9111 §5.2.1.7
                ErrorCode.GATEWAY_TIMEOUT, "only-if-cached: no usable stored response"
            )
        if request.method == "HEAD":
            return await self._forward(request, "MISS", stale=entry, req=req)
        revalidating = entry if use is Use.REVALIDATE else None
        if req.has_authorization or self.collapser.is_uncacheable(key, now):
            return await self._fetch(request, req, key, entry, revalidating, None)
        flight, leader = self.collapser.join(key)
        if not leader:
            self.stats["collapsed"] += 1
            shared = await flight.wait(self.config.collapse_timeout)
            if shared is not None and self._selects(shared, request):
                return self._send_entry(request, shared, "HIT", self.clock())
            return await self._fetch(request, req, key, entry, revalidating, None)
        with self.collapser.lead(key, flight) as lead:
            return await self._fetch(request, req, key, entry, revalidating, lead)

    @staticmethod
    def _selects(entry: Entry, request: web.Request) -> bool:
        vary = entry.facts.vary
        if vary is None:
            return False
        if not vary:
            return True
        headers = request.headers
        return selecting_values(vary, lambda name: headers.getall(name, [])) == entry.selecting

    async def _fetch(
        self,
        request: web.Request,
        req: RequestFacts,
        key: str,
        stale: Entry | None,
        revalidating: Entry | None,
        lead: _Lead[Entry] | None,
    ) -> web.StreamResponse:
        """Fetch the whole representation (conditionally when revalidating) and answer from it."""
        headers = self._upstream_headers(request, drop=CLIENT_PRECONDITIONS)
        if revalidating is not None:
            headers.extend(_validator_headers(revalidating))
        request_time = self.clock()
        since = self.store.generation
        forward_instead = False
        x_cache = "MISS"
        try:
            async with self.pool.request("GET", key, headers) as resp:
                response_time = self.clock()
                lines, kept = split_response_headers(resp.headers.items())
                if (
                    resp.status in ERROR_STATUSES and stale is not None
                    and may_serve_stale_on_error(
                        stale.facts, req, response_time, self.config.stale_if_error
                    )
                ):
                    self.stats["stale_if_error"] += 1
                    return self._send_entry(request, stale, "STALE", response_time)
                if revalidating is not None and resp.status == 304:
                    entry = self._updated(
                        revalidating, kept, lines, request_time, response_time, since
                    )
                    if lead is not None:
                        lead.result = entry
                    self.stats["revalidated"] += 1
                    return self._send_entry(request, entry, "REVALIDATED", response_time)
                facts = analyse_response(
                    resp.status, lines, request_time=request_time, response_time=response_time
                )
                if forbids_storing(facts):
                    x_cache = "BYPASS"  # e.g. API answers (no-store): never the cache's
                self.stats[x_cache.lower()] += 1
                if not (is_storable(req, facts) and facts.vary is not None):
                    if not req.has_authorization:
                        self.collapser.mark_uncacheable(key, response_time)
                    if revalidating is not None:
                        self.store.remove(revalidating)
                    if "Range" in request.headers and resp.status == 200:
                        forward_instead = True  # let the upstream cut the range
                    else:
                        return await self._relay(request, resp, kept, facts, x_cache)
                elif _too_big(resp.content_length, self.store.max_object):
                    if "Range" in request.headers:
                        forward_instead = True
                    else:
                        return await self._relay(request, resp, kept, facts, "MISS")
                else:
                    body, complete = await _read_up_to(resp, self.store.max_object, self.store)
                    if not complete:
                        return await self._relay(request, resp, kept, facts, "MISS", prefix=body)
                    entry = Entry(
                        key=key,
                        selecting=selecting_values(
                            facts.vary, lambda name: request.headers.getall(name, [])
                        ),
                        status=resp.status,
                        reason=resp.reason or "",
                        headers=stored_headers(kept, response_time),
                        body=body,
                        facts=facts,
                    )
                    if self.store.put(entry, since) and lead is not None:
                        lead.result = entry
                    return self._send_entry(request, entry, "MISS", response_time)
        except UpstreamError as exc:
            if request.get(_PREPARED):
                raise ConnectionResetError(str(exc)) from exc
            if stale is not None and may_serve_stale_on_error(
                stale.facts, req, self.clock(), self.config.stale_if_error
            ):
                self.stats["stale_if_error"] += 1
                return self._send_entry(request, stale, "STALE", self.clock())
            raise _api_error(exc) from exc
        assert forward_instead
        return await self._forward(request, x_cache, stale=stale, req=req)

    def _updated(
        self,
        entry: Entry,
        kept: HeaderPairs,
        lines: dict[str, list[str]],
        request_time: float,
        response_time: float,
        since: int,
    ) -> Entry:
        """The stored response freshened by a 304 (RFC 9111 §4.3.4) and stored again
        (unless its URL was purged after generation `since`)."""
        headers = updated_headers(list(entry.headers), [
            (name, value) for name, value in kept if name.lower() != "via"
        ])
        analysis_lines = lines_of(headers)
        if "age" in lines:
            analysis_lines["age"] = lines["age"]
        facts = analyse_response(
            entry.status, analysis_lines, request_time=request_time, response_time=response_time
        )
        fresh = Entry(
            key=entry.key,
            selecting=entry.selecting,
            status=entry.status,
            reason=entry.reason,
            headers=tuple(headers),
            body=entry.body,
            facts=facts,
        )
        self.store.remove(entry)
        self.store.put(fresh, since)
        return fresh

    # ---------------------------------------------------------------- warming

    async def fill(self, key: str) -> Entry | None:
        """Make sure `key` (path + query) is stored fresh, fetching it when needed.

        Used by warming: no client is waiting, and no client header fields select a variant.
        Returns the stored entry, or None when the answer could not be stored.
        """
        now = self.clock()
        entry = self.store.select(key, _no_fields)
        if entry is not None and decide(entry.facts, _WARM_REQUEST, now) is Use.FRESH:
            return entry
        flight, leader = self.collapser.join(key)
        if not leader:
            return await flight.wait(self.config.collapse_timeout)
        with self.collapser.lead(key, flight) as lead:
            headers = upstream_request_headers(
                [], client_ip=None, scheme="http", host=None,
                request_id=current_request_id.get(),  # the warm request's
            )
            headers.extend(self.upstream_fields(key))
            if entry is not None:
                headers.extend(_validator_headers(entry))
            request_time = self.clock()
            since = self.store.generation
            try:
                async with self.pool.request("GET", key, headers) as resp:
                    response_time = self.clock()
                    lines, kept = split_response_headers(resp.headers.items())
                    if entry is not None and resp.status == 304:
                        lead.result = self._updated(
                            entry, kept, lines, request_time, response_time, since
                        )
                        return lead.result
                    facts = analyse_response(
                        resp.status, lines, request_time=request_time, response_time=response_time
                    )
                    if (
                        not is_storable(_WARM_REQUEST, facts) or facts.vary is None
                        or _too_big(resp.content_length, self.store.max_object)
                    ):
                        return None
                    body, complete = await _read_up_to(resp, self.store.max_object, self.store)
                    if not complete:
                        return None
                    fresh = Entry(
                        key=key,
                        selecting=selecting_values(facts.vary, _no_fields),
                        status=resp.status,
                        reason=resp.reason or "",
                        headers=stored_headers(kept, response_time),
                        body=body,
                        facts=facts,
                    )
                    if self.store.put(fresh, since):
                        lead.result = fresh
                    self.stats["warmed"] += 1
                    return lead.result
            except UpstreamError as exc:
                log.info("warming %s failed: %s", key, exc)
                return None

    # ---------------------------------------------------------------- background refresh

    def _refresh_later(self, request: web.Request, req: RequestFacts, entry: Entry) -> None:
        """stale-while-revalidate: one background revalidation per stored variant at a time."""
        if entry.variant in self._refreshing:
            return
        self._refreshing.add(entry.variant)
        headers = self._upstream_headers(request, drop=CLIENT_PRECONDITIONS)
        headers.extend(_validator_headers(entry))
        # The refresh stores for everyone: only the Authorization rule of the triggering
        # request applies, not its own directives (e.g. no-store).
        refresh_req = RequestFacts("GET", _NO_DIRECTIVES, req.has_authorization)
        task = asyncio.create_task(self._refresh(entry, refresh_req, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, entry: Entry, req: RequestFacts, headers: HeaderPairs) -> None:
        self.stats["background_refresh"] += 1
        request_time = self.clock()
        since = self.store.generation
        try:
            async with self.pool.request("GET", entry.key, headers) as resp:
                response_time = self.clock()
                lines, kept = split_response_headers(resp.headers.items())
                if resp.status == 304:
                    self._updated(entry, kept, lines, request_time, response_time, since)
                    return
                if resp.status in ERROR_STATUSES:
                    return  # keep serving what we have
                facts = analyse_response(
                    resp.status, lines, request_time=request_time, response_time=response_time
                )
                if (
                    not is_storable(req, facts) or facts.vary is None
                    or _too_big(resp.content_length, self.store.max_object)
                ):
                    self.store.remove(entry)
                    return
                body, complete = await _read_up_to(resp, self.store.max_object, self.store)
                if not complete:
                    self.store.remove(entry)
                    return
                self.store.remove(entry)
                self.store.put(Entry(
                    key=entry.key,
                    selecting=entry.selecting,
                    status=resp.status,
                    reason=resp.reason or "",
                    headers=stored_headers(kept, response_time),
                    body=body,
                    facts=facts,
                ), since)
        except UpstreamError as exc:
            log.info("background refresh of %s failed: %s", entry.key, exc)
        finally:
            self._refreshing.discard(entry.variant)

    # ---------------------------------------------------------------- forwarding

    async def _forward(
        self,
        request: web.Request,
        x_cache: str,
        *,
        invalidate: bool = False,
        stale: Entry | None = None,
        req: RequestFacts | None = None,
    ) -> web.StreamResponse:
        """Send the request upstream as the client made it and stream the answer back.

        A request body is streamed, never held: its declared Content-Length goes upstream
        (so the upstream can refuse too large a body at once), and `Expect: 100-continue`
        is passed on: the client is told to send the body only when the upstream asks for
        it. An upstream that neither asks nor answers within `upstream_timeout` gets a 504.
        """
        headers = self._upstream_headers(request)
        expect_continue = request.body_exists and expects_continue(request)
        waiting = asyncio.timeout(self.pool.config.read_timeout if expect_continue else None)
        body: AsyncIterator[bytes] | None = None
        if request.body_exists:
            if request.content_length is not None:
                headers.append(("Content-Length", str(request.content_length)))
            body = _client_body(request, waiting if expect_continue else None)
        self.stats["bypass" if x_cache == "BYPASS" else "miss"] += 1
        try:
            async with waiting, self.pool.request(
                request.method, request.raw_path, headers, data=body,
                expect_continue=expect_continue,
            ) as resp:
                waiting.reschedule(None)
                now = self.clock()
                if (
                    stale is not None and req is not None and resp.status in ERROR_STATUSES
                    and may_serve_stale_on_error(stale.facts, req, now, self.config.stale_if_error)
                ):
                    return self._send_entry(request, stale, "STALE", now)
                if invalidate and invalidates(request.method, resp.status):
                    self._invalidate(request, resp)
                _, kept = split_response_headers(resp.headers.items())
                return await self._stream(request, resp, kept, x_cache)
        except UpstreamError as exc:
            if request.get(_PREPARED):
                raise ConnectionResetError(str(exc)) from exc
            now = self.clock()
            if stale is not None and req is not None and may_serve_stale_on_error(
                stale.facts, req, now, self.config.stale_if_error
            ):
                return self._send_entry(request, stale, "STALE", now)
            raise _api_error(exc) from exc
        except TimeoutError as exc:  # only `waiting` raises it: no 100 Continue, no answer
            raise ApiError(ErrorCode.GATEWAY_TIMEOUT) from exc

    def _invalidate(self, request: web.Request, resp: aiohttp.ClientResponse) -> None:
        """RFC 9111 §4.4: the target URI and same-origin Location / Content-Location."""
        removed = self.store.remove_key(request.raw_path)
        for name in ("Location", "Content-Location"):
            value = resp.headers.get(name)
            if not value:
                continue
            try:
                target = URL(value)
            except ValueError:
                continue
            if target.is_absolute():
                if target.host != request.url.host:
                    continue  # another origin: not ours to invalidate
            else:
                target = request.url.join(target)
            removed += self.store.remove_key(target.raw_path_qs)
        self.stats["invalidated"] += removed

    async def _relay(
        self,
        request: web.Request,
        resp: aiohttp.ClientResponse,
        kept: HeaderPairs,
        facts: ResponseFacts,
        x_cache: str,
        *,
        prefix: bytes = b"",
    ) -> web.StreamResponse:
        """An answer fetched without the client's preconditions, not stored: evaluate them on
        its header fields (a 304 needs no body), else stream it."""
        if resp.status == 200 and any(
            name in request.headers for name in ("If-None-Match", "If-Modified-Since")
        ):
            validators = Validators(facts.etag, facts.last_modified_time or facts.date_time)
            decision = evaluate(request.method, _conditional_fields(request), validators, 0)
            if decision.answer is Answer.NOT_MODIFIED:
                out = web.Response(status=304, headers=_response_headers(
                    not_modified_headers(with_via(kept)), None, x_cache
                ))
                return out
        return await self._stream(request, resp, kept, x_cache, prefix=prefix)

    async def _stream(
        self,
        request: web.Request,
        resp: aiohttp.ClientResponse,
        kept: HeaderPairs,
        x_cache: str,
        *,
        prefix: bytes = b"",
    ) -> web.StreamResponse:
        """Copy the upstream answer to the client chunk by chunk, never holding it whole
        (unless the body filter rewrites it: then it is read whole, within a bound)."""
        if (
            self.body_filter is not None and request.method == "GET"
            and self.body_filter.wanted(request, resp.status, resp.headers.get("Content-Type"))
        ):
            return await self._filtered(request, resp, kept, x_cache, prefix)
        out = web.StreamResponse(status=resp.status, reason=resp.reason)
        headers = out.headers
        for name, value in with_via(kept):
            headers.add(name, value)
        age = resp.headers.get("Age")
        if age is not None:
            headers["Age"] = age
        headers[X_CACHE] = x_cache
        length = resp.headers.get("Content-Length")
        if length is not None and length.isdigit():
            if request.method == "HEAD":
                headers["Content-Length"] = length
            else:
                out.content_length = int(length)
        request[_PREPARED] = True
        sent = 0
        try:
            await out.prepare(request)
            if request.method != "HEAD":
                if prefix:
                    await out.write(prefix)
                    sent += len(prefix)
                async for chunk in resp.content.iter_chunked(CHUNK):
                    await out.write(chunk)
                    sent += len(chunk)
            await out.write_eof()
        except ConnectionError as exc:
            # Only writing raises these (upstream read failures are ClientPayloadError or
            # ServerDisconnectedError, left to the pool): the client went away, as players
            # do when they seek or switch renditions. Not worth a traceback.
            log.debug("client left while %s was streamed: %r", request.raw_path, exc)
        finally:
            self.metrics.body_sent(x_cache, sent)
        return out

    async def _filtered(
        self,
        request: web.Request,
        resp: aiohttp.ClientResponse,
        kept: HeaderPairs,
        x_cache: str,
        prefix: bytes,
    ) -> web.Response:
        assert self.body_filter is not None
        body, complete = await _read_up_to(resp, MAX_FILTERED_BODY - len(prefix))
        if not complete:
            raise ApiError(ErrorCode.BAD_GATEWAY, "The upstream body is too large to rewrite.")
        headers = _response_headers(with_via(kept), resp.headers.get("Age"), x_cache)
        self.body_filter.rewrite_headers(headers)
        return web.Response(
            status=resp.status, reason=resp.reason, headers=headers,
            body=self.body_filter.rewrite(request, prefix + body),
        )

    def _upstream_headers(
        self, request: web.Request, drop: frozenset[str] = frozenset()
    ) -> HeaderPairs:
        headers = upstream_request_headers(
            request.headers.items(),
            client_ip=request.remote,
            scheme=request.scheme,
            host=request.headers.get("Host"),
            drop=drop,
            request_id=request_id_of(request),
        )
        headers.extend(self.upstream_fields(request.raw_path))
        return headers

    # ---------------------------------------------------------------- answering from an entry

    def _send_entry(
        self, request: web.Request, entry: Entry, x_cache: str, now: float
    ) -> web.Response:
        """Answer from a stored response: the whole of it, 304, 206, 412 or 416."""
        age = entry.facts.current_age(now)
        age_text = str(int(age)) if age < DELTA_SECONDS_MAX else str(DELTA_SECONDS_MAX)
        request_headers = request.headers
        answer = Answer.FULL
        if any(name in request_headers for name in _CONDITIONAL_NAMES):
            decision = evaluate(
                request.method, _conditional_fields(request), entry.validators, len(entry.body),
                status=entry.status,
            )
            answer = decision.answer
            if answer is Answer.PARTIAL:
                headers = _response_headers(entry.headers, age_text, x_cache)
                length = len(entry.body)
                headers["Content-Range"] = f"bytes {decision.start}-{decision.end}/{length}"
                return web.Response(
                    status=206, headers=headers,
                    body=entry.body[decision.start:decision.end + 1],
                )
            if answer is Answer.NOT_MODIFIED:
                return web.Response(status=304, headers=_response_headers(
                    not_modified_headers(entry.headers), age_text, x_cache
                ))
            if answer is Answer.RANGE_NOT_SATISFIABLE:
                raise ApiError(
                    ErrorCode.RANGE_NOT_SATISFIABLE,
                    headers={"Content-Range": f"bytes */{len(entry.body)}"},
                )
            if answer is Answer.PRECONDITION_FAILED:
                raise ApiError(ErrorCode.PRECONDITION_FAILED)
        headers = _response_headers(entry.headers, age_text, x_cache)
        body = entry.body
        if self.body_filter is not None and self.body_filter.wanted(
            request, entry.status, headers.get("Content-Type")
        ):
            body = self.body_filter.rewrite(request, body)
            self.body_filter.rewrite_headers(headers)
        return web.Response(
            status=entry.status, reason=entry.reason or None, headers=headers, body=body
        )


def _response_headers(
    pairs: tuple[tuple[str, str], ...] | HeaderPairs, age: str | None, x_cache: str
) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict(pairs)
    if age is not None:
        headers["Age"] = age
    headers[X_CACHE] = x_cache
    return headers


def _content_type(headers: tuple[tuple[str, str], ...]) -> str | None:
    for name, value in headers:
        if name.lower() == "content-type":
            return value
    return None


def _conditional_fields(request: web.Request) -> dict[str, str]:
    headers = request.headers
    return {
        name.lower(): ", ".join(headers.getall(name))
        for name in _CONDITIONAL_NAMES
        if name in headers
    }


def expects_continue(request: web.Request) -> bool:
    """An HTTP/1.1 request that waits for 100 Continue before sending its body."""
    return (
        request.version >= HttpVersion11
        and request.headers.get("Expect", "").strip().lower() == "100-continue"
    )


async def _client_body(
    request: web.Request, waiting: asyncio.Timeout | None
) -> AsyncIterator[bytes]:
    """The client's body as it arrives. When the client waits for 100 Continue, it is sent
    only now that the upstream has asked for the body (aiohttp starts reading this then)."""
    if waiting is not None:
        if request.get(_PREPARED):
            return  # the upstream answered without wanting the body
        waiting.reschedule(None)  # the upstream asked: from here on it waits for the client
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        yield chunk


async def no_expect_handler(request: web.Request) -> web.Response | None:
    """Expect handler for proxied routes: 100-continue is answered only once the upstream
    asks for the body (`EdgeProxy._forward`); other expectations fail (RFC 9110 §10.1.1).

    The refusal is returned, not raised: expect handlers run before the middlewares, so
    an exception would reach aiohttp as a server error.
    """
    expect = request.headers.get("Expect", "")
    if request.version >= HttpVersion11 and expect.strip().lower() != "100-continue":
        return error_response(
            ApiError(ErrorCode.EXPECTATION_FAILED, f"Unknown expectation: {expect[:64]!r}.")
        )
    return None


def _validator_headers(entry: Entry) -> HeaderPairs:
    """The conditional request fields for revalidating a stored response (RFC 9111 §4.3.1)."""
    pairs: HeaderPairs = []
    if entry.facts.etag is not None:
        pairs.append(("If-None-Match", entry.facts.etag))
    if entry.facts.last_modified is not None:
        pairs.append(("If-Modified-Since", entry.facts.last_modified))
    return pairs


def _no_fields(name: str) -> list[str]:
    return []


def _too_big(length: int | None, limit: int) -> bool:
    return length is not None and length > limit


async def _read_up_to(
    resp: aiohttp.ClientResponse, limit: int, store: ResponseStore | None = None
) -> tuple[bytes, bool]:
    """(body, True) when the whole body fits in `limit` bytes; else (what was read, False).

    With `store`, the bytes being read count against its capacity while they are read
    (`ResponseStore.reserve`): concurrent fills evict stored entries instead of adding
    to the memory the cache takes. The caller stores the body right after (no await in
    between) or drops it.
    """
    chunks: list[bytes] = []
    size = 0
    reserved = 0
    try:
        if store is not None and resp.content_length is not None:
            reserved = min(resp.content_length, limit + 1)
            store.reserve(reserved)
        async for chunk in resp.content.iter_any():
            chunks.append(chunk)
            size += len(chunk)
            if store is not None and size > reserved:
                store.reserve(size - reserved)
                reserved = size
            if size > limit:
                return b"".join(chunks), False
        return b"".join(chunks), True
    finally:
        if reserved:
            assert store is not None
            store.release(reserved)


def _api_error(exc: UpstreamError) -> ApiError:
    if isinstance(exc, NoUpstreamAvailable):
        return ApiError(
            ErrorCode.UPSTREAM_UNAVAILABLE,
            headers={"Retry-After": str(max(1, round(exc.retry_after)))},
        )
    if exc.timeout:
        return ApiError(ErrorCode.GATEWAY_TIMEOUT)
    return ApiError(ErrorCode.BAD_GATEWAY, f"The upstream server failed: {exc}")
