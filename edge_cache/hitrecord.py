"""Recording answers sent by the hit path as the full path records them: the same HTTP
metrics (route of the proxied catch-all, method, status, bytes, duration), the edge's
cache-result and served-bytes counters, the request id header and the access log line."""

from __future__ import annotations

import logging

from aiohttp import web

from edge_cache.metrics import EdgeMetrics
from edge_cache.wire import RequestHead
from vodstack.access import ACCESS, access_log
from vodstack.request_ids import HEADER, accepted, new_request_id

_REQUEST_ID = HEADER.lower().encode("ascii")
_COUNTER_SPACE = 1 << 64


class HitRecorder:
    def __init__(self, app: web.Application, route: str, edge: EdgeMetrics) -> None:
        recorder = app[ACCESS]
        self.http = recorder.metrics
        self.log_requests = recorder.log_requests
        self.route = route
        self.edge = edge
        self._prefix = new_request_id()[:16]
        self._count = 0

    def _new_id(self) -> bytes:
        """32 hex digits as `vodstack.request_ids.new_request_id` makes them, cheaper: 64
        random bits per process (drawn again after 2**64 ids), then a counter."""
        self._count += 1
        if self._count >= _COUNTER_SPACE:
            self._prefix, self._count = new_request_id()[:16], 1
        return b"%s%016x" % (self._prefix.encode("ascii"), self._count)

    def request_id(self, head: RequestHead) -> bytes:
        """The caller's X-Request-Id when it is sane, else a new one (as the full path)."""
        given = head.first(_REQUEST_ID)
        if given is not None and accepted(given.decode("latin-1")) is not None:
            return given
        return self._new_id()

    def hit_sent(
        self, head: RequestHead, status: int, sent: int, body: int, seconds: float,
        request_id: bytes | None, peer: object,
    ) -> None:
        method = "GET" if head.method == b"GET" else "HEAD"
        self.http.observe(self.route, method, status, sent, seconds)
        self.edge.answered("HIT")
        self.edge.body_sent("HIT", body)
        if self.log_requests and access_log.isEnabledFor(logging.INFO):
            path = head.target.partition(b"?")[0].decode("ascii")
            remote = peer[0] if isinstance(peer, tuple) and peer else "-"
            duration_ms = round(seconds * 1000, 1)
            access_log.info(
                "%s %s %d %dB %.1fms from %s",
                method, path, status, sent, duration_ms, remote,
                extra={
                    "method": method, "path": path, "route": self.route, "status": status,
                    "bytes": sent, "duration_ms": duration_ms, "remote": remote,
                    "request_id": (request_id or b"").decode("ascii"),
                },
            )
