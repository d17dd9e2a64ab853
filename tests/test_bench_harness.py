"""The benchmark harness: wrk's report read right, nginx configs that do what the tables
say (real nginx, real origin), alternating runs and ratios."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import m3u8
import pytest

from bench.lib.compare import Target, markdown_table, ratio_to, run_alternating, series_json
from bench.lib.nginx import (
    Nginx,
    NginxError,
    NginxOptions,
    proxy_cache_config,
    running_as_root,
    static_config,
)
from bench.lib.objects import (
    PLAYLIST_SIZE,
    SEGMENT_SIZE,
    media_playlist,
    put_bench_objects,
    put_objects,
    store_videos_dir,
)
from bench.lib.wrk import WrkError, WrkResult, parse_wrk, run_wrk, wrk_command
from tests.support.processes import REPO_ROOT, VodstackProcess, free_port
from vodstack import media

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:32823/v/BenchBenchBench0/v1/720p/index.m3u8
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   601.61us    1.04ms   8.40ms   89.36%
    Req/Sec    14.93k     5.16k   24.35k    60.00%
  Latency Distribution
     50%  159.00us
     75%  551.00us
     90%    1.74ms
     99%    5.31ms
  29695 requests in 1.00s, 18.92MB read
  Socket errors: connect 0, read 3, write 1, timeout 12
  Non-2xx or 3xx responses: 7
Requests/sec:  29673.58
Transfer/sec:     18.90MB
"""

needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")


def test_wrk_report_is_read_with_units() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests == 29695
    assert result.seconds == 1.0
    assert result.requests_per_second == 29673.58
    assert result.bytes_per_second == pytest.approx(18.90 * 1024**2)
    assert result.latency["p50"] == pytest.approx(159e-6)
    assert result.latency["p90"] == pytest.approx(1.74e-3)
    assert result.latency["p99"] == pytest.approx(5.31e-3)
    assert result.latency["avg"] == pytest.approx(601.61e-6)
    assert result.latency["max"] == pytest.approx(8.40e-3)
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 1, "timeout": 12}
    assert result.non_2xx_3xx == 7
    assert result.errors == 23
    assert result.to_json()["errors"] == 23


def test_wrk_report_without_errors_or_percentiles() -> None:
    text = "\n".join(
        line for line in WRK_OUTPUT.splitlines()
        if "errors" not in line and "Non-2xx" not in line and "%  " not in line
    )  # fmt: skip
    result = parse_wrk(text)
    assert result.errors == 0
    assert "p99" not in result.latency


def test_unreadable_wrk_output_is_an_error() -> None:
    with pytest.raises(WrkError, match="no totals"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_command_is_lua_free() -> None:
    command = wrk_command(
        "http://h/x", seconds=2, connections=64, headers={"Range": "bytes=0-1"}
    )
    assert command == [
        "wrk", "-t2", "-c64", "-d2s", "--latency", "--timeout", "5s",
        "-H", "Range: bytes=0-1", "http://h/x",
    ]  # fmt: skip
    assert "-s" not in command
    with pytest.raises(ValueError):
        wrk_command("http://h/x", seconds=0)


def fake_result(rate: float) -> WrkResult:
    return WrkResult(
        requests=int(rate), seconds=1.0, requests_per_second=rate, bytes_per_second=rate * 1e6,
        latency={"p50": 0.001, "p90": 0.002, "p99": 0.004}, non_2xx_3xx=0,
        socket_errors={"connect": 0, "read": 0, "write": 0, "timeout": 0},
    )  # fmt: skip


def test_runs_alternate_and_ratios_pair_runs_of_the_same_round() -> None:
    targets = [Target("A", "segment", "a"), Target("B", "segment", "b"),
               Target("C", "segment", "c")]  # fmt: skip
    order: list[str] = []
    # The machine slows down round by round; B is always half of A in the same round.
    rates = iter([100, 50, 80, 10, 5, 8, 1000, 500, 800])

    def measure(target: Target) -> WrkResult:
        order.append(target.config)
        return fake_result(next(rates))

    series = run_alternating(targets, 3, measure, log=lambda _line: None)
    assert order == ["A", "B", "C"] * 3
    a, b, c = series
    assert a.requests_per_second == 100  # median of 100, 10, 1000
    assert ratio_to(b, a) == pytest.approx(0.5)  # every round; a ratio of medians is 0.5 too
    assert ratio_to(c, a) == pytest.approx(0.8)
    table = markdown_table(series, ["A"])
    assert table.splitlines()[0].startswith("| object | configuration | req/s")
    assert "| segment | B | 50 | 50.0 | 1.00 | 2.00 | 4.00 | 0 | 0.50 |" in table
    assert series_json(series, ["A"])[1]["ratios"] == {"A": pytest.approx(0.5)}
    with pytest.raises(ValueError):
        run_alternating(targets, 0, measure)


def test_bench_playlist_is_exactly_300_bytes_and_a_valid_vod_playlist() -> None:
    body = media_playlist()
    assert len(body) == PLAYLIST_SIZE
    playlist = m3u8.loads(body.decode())
    assert playlist.is_endlist and playlist.segments
    assert playlist.segment_map[0].uri == "init.mp4"


def test_bench_objects_carry_the_workers_metadata(tmp_path: Path) -> None:
    segment, playlist = put_bench_objects(tmp_path / "store")
    assert (segment.size, playlist.size) == (SEGMENT_SIZE, PLAYLIST_SIZE)
    assert segment.content_type == "video/iso.segment"
    assert playlist.content_type == media.PLAYLIST_TYPE
    on_disk = store_videos_dir(tmp_path / "store") / segment.path.removeprefix("/v/")
    assert on_disk.stat().st_size == SEGMENT_SIZE


@pytest.fixture
def store_with_objects(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    put_bench_objects(data_dir / "store")
    put_objects(data_dir / "store", {"private": ("api/x.json", b"{}", "no-store")})
    return data_dir


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


@pytest.fixture
def nginx_static(store_with_objects: Path, tmp_path: Path) -> Iterator[Nginx]:
    options = NginxOptions(tmp_path / "nginx-static", free_port(), 1, running_as_root())
    config = static_config(options, store_videos_dir(store_with_objects / "store"))
    with Nginx(options, config) as nginx:
        yield nginx


@needs_nginx
def test_nginx_static_serves_the_store_like_the_origin(nginx_static: Nginx) -> None:
    status, headers, body = get(nginx_static.url + "/v/BenchBenchBench0/v1/720p/0.m4s")
    assert status == 200 and len(body) == SEGMENT_SIZE
    assert headers["Content-Type"] == "video/iso.segment"
    assert headers["Cache-Control"] == media.IMMUTABLE
    status, headers, body = get(nginx_static.url + "/v/BenchBenchBench0/v1/720p/index.m3u8")
    assert status == 200 and body == media_playlist()
    assert headers["Content-Type"] == media.PLAYLIST_TYPE
    assert headers["Cache-Control"] == media.FINISHED_PLAYLIST
    status, _, _ = get(nginx_static.url + "/v/BenchBenchBench0/missing.m4s")
    assert status == 404
    log_files = {path.name for path in nginx_static.options.prefix.iterdir()}
    assert {"nginx.pid", "error.log", "nginx.conf"} <= log_files


@needs_nginx
@pytest.mark.slow
def test_nginx_proxy_cache_honours_the_origins_cache_control(
    store_with_objects: Path, tmp_path: Path
) -> None:
    origin = VodstackProcess(
        ["origin", "--data-dir", str(store_with_objects), "--port", "0"],
        log_path=tmp_path / "origin.log",
    )
    try:
        options = NginxOptions(tmp_path / "nginx-cache", free_port(), 1, running_as_root())
        with Nginx(options, proxy_cache_config(options, origin.url)) as nginx:
            segment = nginx.url + "/v/BenchBenchBench0/v1/720p/0.m4s"
            states = [get(segment)[1]["X-Cache"] for _ in range(3)]
            assert states == ["MISS", "HIT", "HIT"]
            status, headers, body = get(segment, {"Range": "bytes=0-99"})
            assert (status, headers["X-Cache"], len(body)) == (206, "HIT", 100)
            # Stored with Cache-Control: no-store: never answered from the cache.
            private = nginx.url + "/v/BenchBenchBench0/api/x.json"
            assert [get(private)[1]["X-Cache"] for _ in range(2)] == ["MISS", "MISS"]
            assert (options.prefix / "cache").is_dir()
    finally:
        origin.stop()


@needs_nginx
def test_a_rejected_nginx_config_says_why(tmp_path: Path) -> None:
    options = NginxOptions(tmp_path / "bad", free_port())
    with pytest.raises(NginxError, match="rejected"):
        Nginx(options, "this is not nginx syntax;\n")
    with pytest.raises(ValueError, match="http://host:port"):
        proxy_cache_config(options, "ftp://origin")


@needs_nginx
@needs_wrk
def test_wrk_against_nginx_counts_requests_and_errors(nginx_static: Nginx) -> None:
    good = run_wrk(nginx_static.url + "/v/BenchBenchBench0/v1/720p/index.m3u8",
                   seconds=1, connections=4, threads=1)  # fmt: skip
    assert good.requests > 0 and good.errors == 0
    assert good.bytes_per_second > good.requests_per_second * PLAYLIST_SIZE * 0.9
    assert {"p50", "p90", "p99"} <= set(good.latency)
    missing = run_wrk(nginx_static.url + "/v/BenchBenchBench0/nope.m4s",
                      seconds=1, connections=2, threads=1)  # fmt: skip
    assert missing.non_2xx_3xx == missing.requests > 0


@needs_nginx
@needs_wrk
@pytest.mark.slow
def test_http_vs_nginx_runs_end_to_end(tmp_path: Path) -> None:
    """The script the performance work relies on: four configurations, two objects, a
    table with ratios, and its JSON, with every cache filled before measuring."""
    result = subprocess.run(
        [sys.executable, "bench/http_vs_nginx.py", "--seconds", "1", "--runs", "1",
         "--connections", "8"],
        capture_output=True, text=True, timeout=240, cwd=REPO_ROOT,
        env={**os.environ, "VODSTACK_BENCH_RESULTS": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| segment")
            or line.startswith("| playlist")]  # fmt: skip
    assert len(rows) == 8
    (path,) = tmp_path.glob("http_vs_nginx-*.json")
    data = json.loads(path.read_text())
    assert {(r["config"], r["object"]) for r in data["results"]} == {
        (config, obj)
        for config in ("nginx static", "nginx proxy_cache", "vodstack edge", "vodstack origin")
        for obj in ("segment", "playlist")
    }
    assert all(r["errors"] == 0 and r["median"]["requests_per_second"] > 0
               for r in data["results"])  # fmt: skip
    assert data["machine"]["cpus"] and len(data["machine"]["load_average"]) == 3
