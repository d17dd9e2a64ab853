"""Adding up the metrics of several processes of one server (pure).

A server that runs as several processes (a multi-process `vodstack edge`) answers
`/metrics` for all of them: each process's collected families are merged sample by sample
(same name and labels). Counters, histograms and summaries add up; gauges add up too
(bytes cached, requests in flight, resident memory of all processes), except those where a
sum means nothing, which take the lowest or highest value (`GAUGE_RULES`). Info and
state-set samples are the same in every process and are kept once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

GAUGE_RULES: dict[str, Callable[[float, float], float]] = {
    "process_start_time_seconds": min,
    "process_max_fds": min,
    # Healthy only where every process finds it so.
    "vodstack_edge_upstream_healthy": min,
    # 1 for a state some process's breaker is in.
    "vodstack_edge_upstream_breaker_state": max,
}
_ONCE = frozenset({"info", "stateset"})


def merge_families(parts: Sequence[Iterable[Metric]]) -> list[Metric]:
    """One list of families from several processes' (the first one's order first)."""
    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Sample]] = {}
    for families in parts:
        for family in families:
            known = merged.get(family.name)
            if known is None:
                known = merged[family.name] = Metric(family.name, family.documentation,
                                                     family.type, family.unit)  # fmt: skip
                values[family.name] = {}
            combine = _combiner(family)
            samples = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen = samples.get(key)
                if seen is None:
                    samples[key] = sample
                elif combine is not None:
                    samples[key] = seen._replace(value=combine(seen.value, sample.value))
    for name, family in merged.items():
        family.samples = list(values[name].values())
    return list(merged.values())


def _combiner(family: Metric) -> Callable[[float, float], float] | None:
    if family.type in _ONCE:
        return None
    if family.type == "gauge":
        return GAUGE_RULES.get(family.name, _add)
    return _add


def _add(a: float, b: float) -> float:
    return a + b
