"""Configurations measured in alternation (A B C A B C ...), medians and ratios (pure,
apart from the `measure` callback).

On a shared, noisy machine absolute numbers drift from minute to minute; alternating
spreads the drift over every configuration, and a ratio taken run by run against a peer
measured seconds apart (then the median of those ratios) is steadier than a ratio of
medians taken minutes apart.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.lib.wrk import WrkResult


@dataclass(frozen=True)
class Target:
    config: str
    """What serves (`nginx static`, `vodstack edge`, ...)."""
    object: str
    """What is fetched (`segment`, `playlist`, ...)."""
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.config} / {self.object}"


@dataclass
class Series:
    target: Target
    runs: list[WrkResult] = field(default_factory=list)

    def median(self, value: Callable[[WrkResult], float]) -> float:
        return statistics.median(value(run) for run in self.runs)

    @property
    def requests_per_second(self) -> float:
        return self.median(lambda run: run.requests_per_second)

    @property
    def megabytes_per_second(self) -> float:
        return self.median(lambda run: run.megabytes_per_second)

    def latency(self, name: str) -> float | None:
        values = [run.latency[name] for run in self.runs if name in run.latency]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)


def run_alternating(
    targets: Sequence[Target],
    runs: int,
    measure: Callable[[Target], WrkResult],
    log: Callable[[str], None] = print,
) -> list[Series]:
    """Measure every target once per round, `runs` rounds, in the same order each round."""
    if runs < 1:
        raise ValueError("at least one run")
    series = [Series(target) for target in targets]
    for round_number in range(1, runs + 1):
        for item in series:
            result = measure(item.target)
            item.runs.append(result)
            log(
                f"run {round_number}/{runs}  {item.target.label:<36} "
                f"{result.requests_per_second:>10,.0f} req/s "
                f"{result.megabytes_per_second:>9,.1f} MB/s"
                f"  p99 {1000 * result.latency.get('p99', 0):7.2f} ms"
                + (f"  ERRORS {result.errors}" if result.errors else "")
            )
    return series


def ratio_to(series: Series, peer: Series) -> float | None:
    """Median over the rounds of (this req/s / the peer's req/s in the same round)."""
    pairs = [
        mine.requests_per_second / theirs.requests_per_second
        for mine, theirs in zip(series.runs, peer.runs, strict=False)
        if theirs.requests_per_second > 0
    ]
    return statistics.median(pairs) if pairs else None


def _find(series: Sequence[Series], config: str, object_name: str) -> Series | None:
    for item in series:
        if item.target.config == config and item.target.object == object_name:
            return item
    return None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.2f}"


def markdown_table(series: Sequence[Series], peers: Sequence[str] = ()) -> str:
    """One row per target, grouped by object; a `x <peer>` column per peer config."""
    header = ["object", "configuration", "req/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "errors"]
    header += [f"x {peer}" for peer in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    objects = list(dict.fromkeys(item.target.object for item in series))
    for object_name in objects:
        for item in series:
            if item.target.object != object_name:
                continue
            cells = [
                object_name, item.target.config, f"{item.requests_per_second:,.0f}",
                f"{item.megabytes_per_second:,.1f}", _ms(item.latency("p50")),
                _ms(item.latency("p90")), _ms(item.latency("p99")), f"{item.errors:,}",
            ]  # fmt: skip
            for peer in peers:
                other = _find(series, peer, object_name)
                ratio = ratio_to(item, other) if other is not None else None
                cells.append("-" if ratio is None else f"{ratio:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def series_json(series: Sequence[Series], peers: Sequence[str] = ()) -> list[dict[str, Any]]:
    out = []
    for item in series:
        ratios = {}
        for peer in peers:
            other = _find(series, peer, item.target.object)
            if other is not None:
                ratios[peer] = ratio_to(item, other)
        out.append({
            "config": item.target.config,
            "object": item.target.object,
            "url": item.target.url,
            "headers": dict(item.target.headers),
            "median": {
                "requests_per_second": item.requests_per_second,
                "megabytes_per_second": item.megabytes_per_second,
                "latency": {name: item.latency(name) for name in ("p50", "p75", "p90", "p99")},
            },
            "errors": item.errors,
            "ratios": ratios,
            "runs": [run.to_json() for run in item.runs],
        })
    return out
