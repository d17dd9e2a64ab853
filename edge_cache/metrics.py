"""The edge's metrics: cache results and bytes by source, upstream latency and failures,
and (read at scrape time) cache occupancy, breaker states and the proxy's event counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from edge_cache.breaker import State
from vodstack.metrics.loop import LoopCounter

if TYPE_CHECKING:
    from edge_cache.proxy import EdgeProxy

CACHE_RESULTS = ("hit", "miss", "stale", "revalidated", "bypass", "error")
FROM_CACHE = frozenset({"HIT", "STALE", "REVALIDATED"})
UPSTREAM_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)


def cache_result(x_cache: str | None) -> str:
    """The label for an answer's `X-Cache` value; `error` when the edge answered an error
    itself (no upstream available, upstream timeout, only-if-cached with nothing stored)."""
    if x_cache is None:
        return "error"
    lowered = x_cache.lower()
    return lowered if lowered in CACHE_RESULTS else "error"


class EdgeMetrics:
    """What the proxy and its upstream pool record as they work. Results and bytes are
    counted for every request, so as plain numbers (see `vodstack.metrics.loop`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = LoopCounter(
            "vodstack_edge_requests_total",
            "Requests through the cache by result (X-Cache: hit, miss, stale, revalidated, "
            "bypass; error when the edge answered an error itself).",
            ("cache",),
            registry,
        )
        self.served_bytes = LoopCounter(
            "vodstack_edge_served_bytes_total",
            "Body bytes sent to clients: from the cache (hit, stale, revalidated) or fetched "
            "from an upstream (miss, bypass).",
            ("source",),
            registry,
        )
        self.upstream_duration = Histogram(
            "vodstack_edge_upstream_request_duration_seconds",
            "Time from sending a request upstream to its response header, by upstream.",
            ("upstream",),
            buckets=UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "vodstack_edge_upstream_errors_total",
            "Upstream requests without a usable answer, by upstream and kind (connect: "
            "unreachable; timeout: no answer or stalled body; broken: malformed or cut off).",
            ("upstream", "kind"),
            registry=registry,
        )
        for result in CACHE_RESULTS:
            self.requests.show((result,))
        self.served_bytes.show(("cache",))
        self.served_bytes.show(("upstream",))
        self._result_keys = {
            x_cache: (cache_result(x_cache),) for x_cache in (*FROM_CACHE, "MISS", "BYPASS")
        }

    def answered(self, x_cache: str | None) -> None:
        key = self._result_keys.get(x_cache) if x_cache is not None else None
        self.requests.inc(key or (cache_result(x_cache),))

    def body_sent(self, x_cache: str | None, size: int) -> None:
        self.served_bytes.inc(("cache",) if x_cache in FROM_CACHE else ("upstream",), size)

    # The upstream pool's observer interface.

    def upstream_answered(self, upstream: str, seconds: float) -> None:
        self.upstream_duration.labels(upstream).observe(seconds)

    def upstream_failed(self, upstream: str, kind: str) -> None:
        self.upstream_errors.labels(upstream, kind).inc()


class EdgeStateCollector:
    """State that already lives in the proxy, read at each scrape (no I/O)."""

    def __init__(self, proxy: EdgeProxy) -> None:
        self.proxy = proxy

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        proxy = self.proxy
        store = proxy.store
        stats = proxy.stats

        def gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, value=value)

        def counter(name: str, text: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(name, text, value=value)

        yield gauge("vodstack_edge_cache_entries", "Responses stored.", len(store))
        yield gauge(
            "vodstack_edge_cache_bytes", "Bytes of stored responses (with overhead).",
            store.total_bytes,
        )
        yield gauge(
            "vodstack_edge_cache_capacity_bytes", "Bound on the stored bytes (cache_size).",
            store.capacity,
        )
        yield counter(
            "vodstack_edge_cache_evictions",
            "Stored responses evicted to make room (purges and invalidations not included).",
            store.evictions,
        )
        yield counter(
            "vodstack_edge_collapsed_requests",
            "Requests that waited for a concurrent fetch of the same URL instead of fetching.",
            stats["collapsed"],
        )
        yield counter(
            "vodstack_edge_background_refreshes",
            "Background revalidations (stale-while-revalidate).",
            stats["background_refresh"],
        )
        yield counter(
            "vodstack_edge_purged_entries", "Entries removed by purge requests.", stats["purged"]
        )
        yield counter(
            "vodstack_edge_invalidated_entries",
            "Entries removed because an unsafe request changed their URL (RFC 9111 4.4).",
            stats["invalidated"],
        )
        yield counter("vodstack_edge_warmed", "Responses fetched by warming.", stats["warmed"])

        healthy = GaugeMetricFamily(
            "vodstack_edge_upstream_healthy",
            "1 when the upstream passes its active health checks.",
            labels=("upstream",),
        )
        breaker = GaugeMetricFamily(
            "vodstack_edge_upstream_breaker_state",
            "Circuit-breaker state of each upstream: 1 for the current state "
            "(closed, open, half_open), 0 for the others.",
            labels=("upstream", "state"),
        )
        active = GaugeMetricFamily(
            "vodstack_edge_upstream_in_flight",
            "Requests waiting on or streaming from each upstream.",
            labels=("upstream",),
        )
        for upstream in proxy.pool.upstreams:
            healthy.add_metric([upstream.label], 1.0 if upstream.healthy else 0.0)
            for state in State:
                current = upstream.breaker.state is state
                breaker.add_metric([upstream.label, state.value], 1.0 if current else 0.0)
            active.add_metric([upstream.label], float(upstream.active))
        yield healthy
        yield breaker
        yield active
