"""The load-test report: a JSON-ready dict from what was recorded, and its text table (pure)."""

from __future__ import annotations

from typing import Any

from vodstack.loadtest.config import LoadTestConfig
from vodstack.loadtest.histogram import Histogram
from vodstack.loadtest.records import ObjectKind, Recorder

PERCENTILES = (50, 95, 99)
HIT_STATES = {"HIT", "STALE", "REVALIDATED"}
"""X-Cache values answered from the cache (revalidated: from the cache after a 304)."""


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def latency_summary(histogram: Histogram) -> dict[str, float | None]:
    summary = {f"p{p}": _ms(histogram.percentile(p)) for p in PERCENTILES}
    summary["mean"] = _ms(histogram.mean)
    summary["max"] = _ms(histogram.maximum if histogram.count else None)
    return summary


def cache_summary(counts: dict[str, int], requests: int) -> dict[str, Any]:
    """Hit ratio over the responses that carried an X-Cache header."""
    labelled = sum(counts.values())
    hits = sum(count for state, count in counts.items() if state in HIT_STATES)
    return {
        "states": dict(sorted(counts.items())),
        "labelled": labelled,
        "unlabelled": requests - labelled,
        "hit_ratio": round(hits / labelled, 4) if labelled else None,
    }


def build_report(
    config: LoadTestConfig,
    recorder: Recorder,
    *,
    elapsed: float,
    masters: list[str],
    client_cpu_seconds: float,
) -> dict[str, Any]:
    requests = sum(stats.requests for stats in recorder.kinds.values())
    errors = sum(stats.errors for stats in recorder.kinds.values())
    size = sum(stats.size for stats in recorder.kinds.values())
    stall_counts = recorder.player_stalls.values()
    elapsed = max(elapsed, 1e-9)
    return {
        "config": {
            "targets": list(config.targets),
            "videos": len(masters),
            "players": config.players,
            "duration": config.duration,
            "speed": config.speed,
            "paced": config.pace,
            "bandwidth": "unlimited" if not config.pace else config.bandwidth.describe(),
            "buffer_target": config.buffer_target,
            "request_timeout": config.request_timeout,
            "ramp": config.ramp,
            "seed": config.seed,
        },
        "elapsed": round(elapsed, 3),
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 2),
        "bytes": size,
        "megabytes_per_second": round(size / elapsed / 1e6, 3),
        "errors": errors,
        "error_rate": round(errors / requests, 6) if requests else 0.0,
        "statuses": dict(sorted(recorder.statuses.items())),
        "cache": cache_summary(dict(recorder.cache), requests),
        "by_type": {
            str(kind): {
                "requests": stats.requests,
                "errors": stats.errors,
                "bytes": stats.size,
                "first_byte_ms": latency_summary(stats.first_byte),
                "latency_ms": latency_summary(stats.seconds),
            }
            for kind, stats in recorder.kinds.items()
        },
        "playback": {
            "sessions": recorder.sessions,
            "started": recorder.sessions_started,
            "completed": recorder.sessions_completed,
            "failed": recorder.sessions_failed,
            "startup_ms": latency_summary(recorder.startup),
            "stalls": sum(stall_counts) if config.pace else None,
            "stall_seconds": (
                round(sum(recorder.player_stall_seconds.values()), 3) if config.pace else None
            ),
            "players_with_stalls": sum(1 for n in stall_counts if n) if config.pace else None,
            "switches_up": recorder.switches_up,
            "switches_down": recorder.switches_down,
            "segments_by_bandwidth": {
                str(bandwidth): count for bandwidth, count in sorted(recorder.rungs.items())
            },
        },
        "problems": dict(recorder.problems.most_common()),
        "client_cpu_percent": round(100 * client_cpu_seconds / elapsed, 1),
    }


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    """The report as a few summary lines and a table by object type."""
    config = report["config"]
    playback = report["playback"]
    cache = report["cache"]
    pace = f"played at {config['speed']:g}x" if config["paced"] else "unpaced"
    lines = [
        f"{config['players']} players for {config['duration']:g} s ({pace}, bandwidth "
        f"{config['bandwidth']}), {config['videos']} video(s)",
        f"elapsed {report['elapsed']:.1f} s: {report['requests']:,} requests "
        f"({report['requests_per_second']:,.1f} req/s), {report['bytes'] / 1e6:,.1f} MB "
        f"({report['megabytes_per_second']:,.2f} MB/s), errors {report['errors']:,} "
        f"({100 * report['error_rate']:.2f} %)",
    ]
    if cache["labelled"]:
        states = ", ".join(f"{state} {count:,}" for state, count in cache["states"].items())
        lines.append(f"cache: {states}; hit ratio {100 * cache['hit_ratio']:.1f} %")
    else:
        lines.append("cache: no X-Cache header in the responses")
    startup = playback["startup_ms"]
    line = (
        f"sessions: {playback['sessions']:,} ({playback['started']:,} started, "
        f"{playback['completed']:,} to the end, {playback['failed']:,} failed); "
        f"startup p50 {_cell(startup['p50'], 0)} ms, p95 {_cell(startup['p95'], 0)} ms"
    )
    lines.append(line)
    switches = f"{playback['switches_up']:,} up, {playback['switches_down']:,} down"
    if playback["stalls"] is None:
        lines.append(f"stalls: not measured (unpaced); rendition switches: {switches}")
    else:
        lines.append(
            f"stalls: {playback['stalls']:,} ({playback['stall_seconds']:.1f} s in all, on "
            f"{playback['players_with_stalls']} player(s)); rendition switches: {switches}"
        )
    errors = {k: v for k, v in report["statuses"].items() if not k.isdigit() or int(k) >= 400}
    if errors:
        lines.append("failures: " + ", ".join(f"{k} {v:,}" for k, v in errors.items()))
    for problem, count in report["problems"].items():
        lines.append(f"problem ({count:,}x): {problem}")
    if report["client_cpu_percent"] >= 80:
        lines.append(
            f"warning: this client used {report['client_cpu_percent']:.0f} % of a CPU; "
            "latencies include its own queueing (use fewer players per process)"
        )
    header = (
        "type", "requests", "errors", "MB", "ttfb p50", "p95", "p99", "total p50", "p95", "p99"
    )
    rows = [header]
    for kind in ObjectKind:
        stats = report["by_type"][str(kind)]
        first, total = stats["first_byte_ms"], stats["latency_ms"]
        rows.append((
            str(kind), f"{stats['requests']:,}", f"{stats['errors']:,}",
            f"{stats['bytes'] / 1e6:,.1f}",
            _cell(first["p50"]), _cell(first["p95"]), _cell(first["p99"]),
            _cell(total["p50"]), _cell(total["p95"]), _cell(total["p99"]),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines.append("")
    lines.append("latency in ms (ttfb: to the response headers; total: to the last byte)")
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)
