"""Prometheus metrics: one registry per application, metric groups made once on it.

`Metrics` is the registry of one app (so tests running many apps in one process stay
apart, and `vodstack serve`, whose services share one app, has each name once). Each part
asks it for the group it records into: `metrics.group(HttpMetrics)`, `StoreMetrics`,
`JobMetrics`, ... Values that live elsewhere (queue depth, disk space, cache size) are read
at scrape time by collectors, never copied on every change.
"""

from vodstack.metrics.registry import METRICS, AsyncCollector, Metrics, metrics_handler

__all__ = ["METRICS", "AsyncCollector", "Metrics", "metrics_handler"]
