"""Latency histograms and the load-test report, from recorded requests (no network)."""

from __future__ import annotations

import json
import random

import pytest

from vodstack.loadtest.bandwidth import BandwidthSpec
from vodstack.loadtest.config import LoadTestConfig
from vodstack.loadtest.histogram import GROWTH, Histogram
from vodstack.loadtest.records import Fetched, ObjectKind, Recorder, SessionOutcome
from vodstack.loadtest.report import build_report, format_report


def exact_percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


@pytest.mark.parametrize("percent", [0, 1, 50, 90, 95, 99, 99.9, 100])
def test_percentiles_are_within_half_a_bucket_of_the_exact_ones(percent: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-4, 1.2) for _ in range(20_000)]  # ~18 ms median
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    exact = exact_percentile(values, percent)
    assert histogram.percentile(percent) == pytest.approx(exact, rel=GROWTH**0.5 - 1 + 1e-9)


def test_small_exact_cases() -> None:
    histogram = Histogram()
    assert histogram.percentile(50) is None and histogram.mean is None
    for value in (0.001, 0.002, 0.003, 0.004, 0.100):
        histogram.add(value)
    assert histogram.percentile(50) == pytest.approx(0.003, rel=0.006)
    assert histogram.percentile(100) == pytest.approx(0.100)  # capped at the real maximum
    assert histogram.percentile(0) == pytest.approx(0.001, rel=0.006)
    assert histogram.mean == pytest.approx(0.022)
    assert histogram.count == 5
    with pytest.raises(ValueError):
        histogram.percentile(101)


def test_memory_stays_bounded_whatever_the_count() -> None:
    histogram = Histogram()
    for index in range(200_000):
        histogram.add(0.001 + (index % 1000) * 1e-5)  # 1 to 11 ms
    assert histogram.count == 200_000
    assert len(histogram.buckets) < 300


def test_merge_equals_adding_everything_to_one() -> None:
    one, two, both = Histogram(), Histogram(), Histogram()
    for value in (0.01, 0.02, 0.5):
        one.add(value)
        both.add(value)
    for value in (0.03, 2.0):
        two.add(value)
        both.add(value)
    one.merge(two)
    assert one.buckets == both.buckets
    assert (one.count, one.minimum, one.maximum) == (both.count, both.minimum, both.maximum)
    assert one.total == pytest.approx(both.total)


def config(**overrides: object) -> LoadTestConfig:
    values: dict[str, object] = {"targets": ("http://127.0.0.1:1/v/x/master.m3u8",), "players": 3}
    values.update(overrides)
    return LoadTestConfig(**values).validate()  # type: ignore[arg-type]


def recorded() -> Recorder:
    recorder = Recorder()
    recorder.request(Fetched(ObjectKind.MASTER, 200, 300, 0.002, 0.003, "MISS"))
    recorder.request(Fetched(ObjectKind.MASTER, 200, 300, 0.001, 0.001, "HIT"))
    recorder.request(Fetched(ObjectKind.MEDIA, 200, 500, 0.001, 0.002, "HIT"))
    recorder.request(Fetched(ObjectKind.INIT, 200, 800, 0.001, 0.002, None))
    for _ in range(4):
        recorder.request(Fetched(ObjectKind.SEGMENT, 200, 1_000_000, 0.002, 0.5, "HIT"))
        recorder.segment(2_800_000)
    recorder.request(Fetched(ObjectKind.SEGMENT, 503, 100, 0.004, 0.004, "MISS"))
    recorder.request(Fetched(ObjectKind.SEGMENT, None, 0, 0.0, 20.0, None, "timeout"))
    recorder.session(0, SessionOutcome(0.4, 2, 1.5, 1, 0, 4, completed=False))
    recorder.session(1, SessionOutcome(0.2, 0, 0.0, 0, 1, 3, completed=True))
    recorder.session(2, SessionOutcome(None, 0, 0.0, 0, 0, 0, completed=False, failed=True))
    recorder.problem("http://x/master.m3u8 is not an HLS playlist (no #EXTM3U)")
    return recorder


def test_report_counts_rates_errors_cache_and_playback() -> None:
    report = build_report(
        config(), recorded(), elapsed=2.0, masters=["m"], client_cpu_seconds=0.5
    )
    assert report["requests"] == 10
    assert report["requests_per_second"] == 5.0
    assert report["bytes"] == 300 + 300 + 500 + 800 + 4_000_000 + 100
    assert report["errors"] == 2
    assert report["error_rate"] == 0.2
    assert report["statuses"] == {"200": 8, "503": 1, "timeout": 1}
    # 8 responses say HIT or MISS; 6 of them HIT.
    assert report["cache"]["labelled"] == 8 and report["cache"]["unlabelled"] == 2
    assert report["cache"]["hit_ratio"] == 0.75
    segment = report["by_type"]["segment"]
    assert segment["requests"] == 6 and segment["errors"] == 2
    # Latency covers the answered requests (the timeout has no latency to speak of).
    assert segment["latency_ms"]["p50"] == pytest.approx(500, rel=0.01)
    assert segment["first_byte_ms"]["max"] == pytest.approx(4.0)
    playback = report["playback"]
    assert (playback["sessions"], playback["started"], playback["completed"]) == (3, 2, 1)
    assert playback["failed"] == 1
    assert playback["stalls"] == 2 and playback["stall_seconds"] == 1.5
    assert playback["players_with_stalls"] == 1
    assert (playback["switches_up"], playback["switches_down"]) == (1, 1)
    assert playback["segments_by_bandwidth"] == {"2800000": 4}
    assert report["client_cpu_percent"] == 25.0
    json.dumps(report)  # JSON-ready as it is


def test_table_shows_every_object_type_and_the_failures() -> None:
    report = build_report(
        config(), recorded(), elapsed=2.0, masters=["m"], client_cpu_seconds=1.9
    )
    text = format_report(report)
    for kind in ("master", "media", "init", "segment"):
        assert any(line.startswith(kind) for line in text.splitlines()), kind
    assert "hit ratio 75.0 %" in text
    assert "errors 2 (20.00 %)" in text
    assert "503 1" in text and "timeout 1" in text
    assert "stalls: 2 (1.5 s in all, on 1 player(s))" in text
    assert "not an HLS playlist" in text
    assert "warning: this client used 95 % of a CPU" in text


def test_unpaced_reports_say_stalls_were_not_measured() -> None:
    report = build_report(
        config(pace=False, bandwidth=BandwidthSpec.parse("8M")), Recorder(), elapsed=1.0,
        masters=["m"], client_cpu_seconds=0.0,
    )  # fmt: skip
    assert report["playback"]["stalls"] is None
    assert report["config"]["bandwidth"] == "unlimited"
    assert report["cache"]["hit_ratio"] is None
    text = format_report(report)
    assert "not measured (unpaced)" in text
    assert "no X-Cache header" in text
