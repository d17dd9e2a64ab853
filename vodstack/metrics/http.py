"""HTTP server metrics, labelled by route template (never the raw path) and status."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from vodstack.metrics.loop import LoopCounter, LoopGauge, LoopHistogram

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0,
)
"""From a cached segment (about a millisecond) to a large upload (minutes)."""

UNMATCHED_ROUTE = "unmatched"
"""Route label of requests no route matched (404, 405): one series, whatever the path."""

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The method, or `other` (any token is a valid method: the label set must stay small)."""
    return method if method in KNOWN_METHODS else "other"


class HttpMetrics:
    """Recorded once per request, so kept as plain numbers (see `vodstack.metrics.loop`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("route", "method", "status")
        self.requests = LoopCounter(
            "vodstack_http_requests_total", "HTTP requests answered.", labels, registry
        )
        self.duration = LoopHistogram(
            "vodstack_http_request_duration_seconds",
            "Time from routing a request to the last byte of its answer.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.response_bytes = LoopCounter(
            "vodstack_http_response_bytes_total",
            "Bytes written to clients (status line, header fields and body).",
            ("route", "method"),
            registry,
        )
        self.in_flight = LoopGauge(
            "vodstack_http_requests_in_flight", "Requests being handled right now.", registry
        )

    def observe(self, route: str, method: str, status: int, sent: int, seconds: float) -> None:
        key = (route, method, status)
        self.requests.inc(key)
        self.duration.observe(key, seconds)
        self.response_bytes.inc((route, method), sent)
