"""Counters, gauges and histograms for per-request paths, kept as plain numbers.

A prometheus_client metric takes a lock and runs a few checks on every update; on a path
taken by every request (the edge answers a cached segment in about a hundred
microseconds) those calls are a measurable share of the work. These keep their numbers in
dicts and lists — updated on the event loop, which is one thread, so no lock is needed —
and are registered as custom collectors: prometheus_client turns them into metric families
and writes the exposition when `/metrics` is scraped (on the same loop).

Label values may be any objects with a `str()`; they are converted when scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

Labels = tuple[object, ...]


class LoopCounter:
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.values: dict[Labels, float] = {}
        if registry is not None:
            registry.register(self)

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        values = self.values
        values[labels] = values.get(labels, 0.0) + amount

    def show(self, labels: Labels) -> None:
        """Export this series (as 0) before anything is counted in it."""
        self.values.setdefault(labels, 0.0)

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self.values.items():
            family.add_metric([str(label) for label in labels], value)
        return [family]


class LoopGauge:
    def __init__(
        self, name: str, documentation: str, registry: CollectorRegistry | None = None
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.value = 0.0
        if registry is not None:
            registry.register(self)

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation, value=self.value)]


class _Series:
    __slots__ = ("counts", "total")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        """Observations per bucket (not cumulative); the last one is +Inf."""
        self.total = 0.0


class LoopHistogram:
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(sorted(buckets))
        self._le = [floatToGoString(bound) for bound in self.bounds] + ["+Inf"]
        self.series: dict[Labels, _Series] = {}
        if registry is not None:
            registry.register(self)

    def observe(self, labels: Labels, value: float) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = _Series(len(self.bounds) + 1)
        # Bucket `le` counts observations <= le: the first bound not below the value.
        series.counts[bisect_left(self.bounds, value)] += 1
        series.total += value

    def count(self, labels: Labels) -> int:
        series = self.series.get(labels)
        return sum(series.counts) if series is not None else 0

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, series in self.series.items():
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for le, count in zip(self._le, series.counts, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric([str(label) for label in labels], buckets, series.total)
        return [family]
