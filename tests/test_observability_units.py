"""Observability pieces without servers: request ids, log formats, labels, registries, the
metered store over a real directory."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from edge_cache.app import create_app as create_edge_app
from edge_cache.messages import upstream_request_headers
from edge_cache.metrics import cache_result
from tests.support.scrape import Scrape
from vodstack import request_ids
from vodstack.commands.check import check_url
from vodstack.embedded import build_embedded_app
from vodstack.errors import StoreUnavailable
from vodstack.logs import JsonFormatter, RequestIdFilter, TextFormatter
from vodstack.metrics import Metrics
from vodstack.metrics.http import HttpMetrics, method_label
from vodstack.metrics.store import StoreMetrics, failure_kind
from vodstack.settings import Settings
from vodstack.store import ObjectNotFound, ObjectTooLarge
from vodstack.store.local import LocalStore
from vodstack.store.metered import MeteredStore, unwrapped

# -- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "req-1", "A.b_c:d-9", "x" * 128])
def test_sane_request_ids_are_kept(value: str) -> None:
    assert request_ids.accepted(value) == value
    assert request_ids.request_id_from(value) == value


@pytest.mark.parametrize(
    "value", [None, "", "x" * 129, "a b", "a\nb", "a\rb", "é", "a/b", "<script>", "a,b"]
)
def test_other_request_ids_are_replaced(value: str | None) -> None:
    assert request_ids.accepted(value) is None
    fresh = request_ids.request_id_from(value)
    assert len(fresh) == 32 and fresh != request_ids.request_id_from(value)


def test_bound_request_id_reaches_tasks_and_is_restored() -> None:
    async def main() -> tuple[str | None, str | None]:
        with request_ids.bound("job-1"):
            inside = await asyncio.create_task(_current())
        return inside, request_ids.current_request_id.get()

    assert asyncio.run(main()) == ("job-1", None)


async def _current() -> str | None:
    return request_ids.current_request_id.get()


# -- log formats ---------------------------------------------------------------------------


def _record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("vodstack.test", logging.WARNING, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_json_lines_carry_extra_fields_and_the_current_request_id() -> None:
    record = _record("uploaded %s", "v1", video_id="v1", size=10)
    with request_ids.bound("req-5"):
        RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "uploaded v1"
    assert (entry["level"], entry["logger"]) == ("warning", "vodstack.test")
    assert (entry["video_id"], entry["size"], entry["request_id"]) == ("v1", 10, "req-5")


def test_an_explicit_request_id_wins_over_the_context() -> None:
    record = _record(request_id="explicit")
    with request_ids.bound("context"):
        RequestIdFilter().filter(record)
    assert record.request_id == "explicit"  # type: ignore[attr-defined]


def test_json_exception_is_one_line() -> None:
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert "Traceback" in entry["exception"] and "line two" in entry["exception"]


def test_json_survives_values_json_cannot_encode() -> None:
    entry = json.loads(JsonFormatter().format(_record(path=Path("/x"), data=b"\xff", obj=object())))
    assert entry["path"] == "/x"


def test_text_lines_end_their_first_line_with_the_request_id() -> None:
    assert TextFormatter().format(_record("plain")).endswith("vodstack.test: plain")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record("crashed", request_id="r-9")
        record.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(record).splitlines()
    assert first.endswith("crashed request_id=r-9")
    assert rest[0].startswith("Traceback")


# -- labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_cache", "label"),
    [("HIT", "hit"), ("MISS", "miss"), ("STALE", "stale"), ("REVALIDATED", "revalidated"),
     ("BYPASS", "bypass"), (None, "error"), ("WEIRD", "error")],
)
def test_cache_results(x_cache: str | None, label: str) -> None:
    assert cache_result(x_cache) == label


def test_methods_outside_the_known_set_share_one_label() -> None:
    assert [method_label(m) for m in ("GET", "HEAD", "PROPFIND", "get", "X" * 50)] == [
        "GET", "HEAD", "other", "other", "other"
    ]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ObjectNotFound("k"), None),
        (ObjectTooLarge(10), None),
        (asyncio.CancelledError(), None),
        (TimeoutError(), "timeout"),
        (StoreUnavailable("down"), "unavailable"),
        (NotADirectoryError(), "os_error"),
        (RuntimeError(), "other"),
    ],
)
def test_store_failure_kinds(exc: BaseException, kind: str | None) -> None:
    assert failure_kind(exc) == kind


# -- check ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "host", "live", "url"),
    [
        (None, "127.0.0.1", False, "http://127.0.0.1:8080/readyz"),
        (None, "0.0.0.0", False, "http://127.0.0.1:8080/readyz"),
        (None, "::", True, "http://[::1]:8080/healthz"),
        (None, "ingest", False, "http://ingest:8080/readyz"),
        ("http://edge:9000", "127.0.0.1", False, "http://edge:9000/readyz"),
        ("http://edge:9000/", "127.0.0.1", True, "http://edge:9000/healthz"),
        ("http://edge:9000/custom", "127.0.0.1", False, "http://edge:9000/custom"),
    ],
)
def test_check_url(base: str | None, host: str, live: bool, url: str) -> None:
    assert check_url(base, Settings(host=host, port=8080), live=live) == url


# -- edge headers -----------------------------------------------------------------------------


def test_the_edge_forwards_its_own_request_id_only() -> None:
    client = [("X-Request-Id", "bad id"), ("x-request-id", "again"), ("Accept", "*/*")]
    headers = upstream_request_headers(
        client, client_ip="127.0.0.1", scheme="http", host="edge", request_id="edge-1"
    )
    assert [value for name, value in headers if name.lower() == "x-request-id"] == ["edge-1"]
    untouched = upstream_request_headers(client, client_ip=None, scheme="http", host=None)
    assert [v for n, v in untouched if n.lower() == "x-request-id"] == ["bad id", "again"]


# -- registries -----------------------------------------------------------------------------


def test_groups_are_made_once_per_registry_and_registries_are_apart() -> None:
    first, second = Metrics(), Metrics()
    assert first.group(HttpMetrics) is first.group(HttpMetrics)
    first.group(HttpMetrics).observe("/a", "GET", 200, 10, 0.01)
    second.group(HttpMetrics)
    first_text = asyncio.run(first.render())[0].decode()
    second_text = asyncio.run(second.render())[0].decode()
    assert Scrape.parse(first_text).value("vodstack_http_requests_total") == 1
    assert Scrape.parse(second_text).value("vodstack_http_requests_total") == 0
    assert "process_resident_memory_bytes" in first_text


def test_one_process_one_registry_for_serve_and_an_edge(tmp_path: Path) -> None:
    """The embedded stack and an edge in one process may share a registry: every name once."""
    metrics = Metrics()
    settings = Settings(data_dir=tmp_path, upstream=("http://127.0.0.1:9",))
    build_embedded_app(settings, metrics=metrics)
    create_edge_app(settings, metrics=metrics)

    async def render() -> str:
        return (await metrics.render())[0].decode()

    text = asyncio.run(render())
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
    parsed = Scrape.parse(text)
    for family in ("vodstack_http_requests", "vodstack_store_operation_duration_seconds",
                   "vodstack_jobs_finished", "vodstack_edge_requests", "vodstack_queue_depth"):
        assert family in parsed.families


def test_openmetrics_on_request() -> None:
    metrics = Metrics()
    metrics.group(HttpMetrics)
    body, content_type = asyncio.run(metrics.render("application/openmetrics-text; version=1.0.0"))
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")


# -- the metered store over a real directory -------------------------------------------------


async def test_metered_store_records_operations_and_failures(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = StoreMetrics(registry)
    store = MeteredStore(LocalStore(tmp_path / "store"), metrics)
    await store.start()
    try:
        for n in range(3):
            await store.put_bytes(f"a/{n}", b"x" * 100, content_type="text/plain")
        assert await store.read("a/1") == b"x" * 100
        with pytest.raises(ObjectNotFound):
            await store.head("a/missing")
        listed = []
        async for info in store.list("a/"):
            listed.append(info.key)
            await asyncio.sleep(0.2)  # the caller's time is not the store's
        async for _ in store.list("a/"):
            break  # an abandoned listing is still recorded
        assert store.local_path("a/1") is not None  # backend attributes pass through
        assert unwrapped(store).__class__ is LocalStore
        (tmp_path / "store" / "data").rename(tmp_path / "gone")
        (tmp_path / "store" / "data").write_bytes(b"file")
        with pytest.raises((StoreUnavailable, OSError)):
            await store.put_bytes("b/1", b"y", content_type="text/plain")
    finally:
        await store.close()

    text = Scrape.parse(_exposition(registry))
    count = "vodstack_store_operation_duration_seconds_count"
    assert text.value(count, operation="put_bytes") == 4
    assert text.value(count, operation="read") == 1
    assert text.value(count, operation="head") == 1
    assert text.value(count, operation="list") == 2
    assert text.value("vodstack_store_operation_duration_seconds_sum", operation="list") < 0.5
    assert sorted(listed) == ["a/0", "a/1", "a/2"]
    assert text.value("vodstack_store_written_bytes_total") == 300
    assert text.value("vodstack_store_operation_errors_total", operation="head") == 0
    assert text.value("vodstack_store_operation_errors_total", operation="put_bytes") == 1


def _exposition(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


async def test_disk_gauges_for_watched_directories(tmp_path: Path) -> None:
    metrics = Metrics()
    metrics.disk.watch("store", tmp_path)
    metrics.disk.watch("scratch", tmp_path / "not" / "made" / "yet")
    parsed = Scrape.parse((await metrics.render())[0].decode())
    for volume in ("store", "scratch"):
        available = parsed.value("vodstack_disk_available_bytes", volume=volume)
        assert 0 < available <= parsed.value("vodstack_disk_size_bytes", volume=volume)


# -- plain-number metrics against prometheus_client's own ---------------------------------


def test_loop_metrics_expose_what_prometheus_client_metrics_would() -> None:
    from prometheus_client import Counter, Histogram, generate_latest

    from vodstack.metrics.loop import LoopCounter, LoopHistogram

    buckets = (0.01, 0.1, 1.0, 10.0)
    observations = [0.0, 0.01, 0.010001, 0.05, 0.1, 3.0, 10.0, 11.0, 500.0]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    loop_histogram = LoopHistogram("t_seconds", "t", ("route", "status"), buckets=buckets,
                                   registry=ours)
    loop_counter = LoopCounter("t_requests_total", "t", ("route", "status"), ours)
    histogram = Histogram("t_seconds", "t", ("route", "status"), buckets=buckets,
                          registry=theirs)
    counter = Counter("t_requests_total", "t", ("route", "status"), registry=theirs)
    for value in observations:
        loop_histogram.observe(("/a", 200), value)
        loop_counter.inc(("/a", 200))
        histogram.labels("/a", "200").observe(value)
        counter.labels("/a", "200").inc()
    loop_counter.inc(("/b", 404), 2.5)
    counter.labels("/b", "404").inc(2.5)

    def samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        parsed = Scrape.parse(generate_latest(registry).decode())
        return {
            (s.name, tuple(sorted(s.labels.items())), round(s.value, 9))
            for s in parsed.samples if not s.name.endswith("_created")
        }

    assert samples(ours) == samples(theirs)
    assert loop_histogram.count(("/a", 200)) == len(observations)
