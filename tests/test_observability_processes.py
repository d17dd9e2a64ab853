"""Real `vodstack` processes: JSON logs, request ids across services, job metrics, `check`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.hls import http_get, upload_file, wait_for_status
from tests.support.origin_server import VIDEO_ID
from tests.support.processes import REPO_ROOT, VodstackProcess
from tests.support.scrape import scrape_sync
from vodstack.store.local import LocalStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SEGMENT_PATH = f"/v/{VIDEO_ID}/v1/720p/3.m4s"
SEGMENT_BYTES = bytes(range(256)) * 64


def json_lines(proc: VodstackProcess) -> list[dict[str, Any]]:
    """Every line of the process's output, each of which must be a JSON object."""
    lines = []
    for number, line in enumerate(proc.log_text().splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            message = f"line {number} of {proc.log_path} is not JSON: {line!r}"
            raise AssertionError(message) from None
        assert isinstance(entry, dict), line
        lines.append(entry)
    return lines


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vodstack", "check", *args],
        capture_output=True, text=True, timeout=30, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
    )


def publish_segment(store_dir: Path) -> None:
    async def put() -> None:
        store = LocalStore(store_dir)
        await store.start()
        try:
            await store.put_bytes(
                f"videos/{VIDEO_ID}/v1/720p/3.m4s", SEGMENT_BYTES, content_type="video/mp4"
            )
        finally:
            await store.close()

    asyncio.run(put())


def send_malformed_request(url: str) -> None:
    """A header line without a colon: aiohttp refuses it and logs the refusal."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n")
        assert sock.recv(4096).split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")


def test_request_id_from_edge_reaches_origin_log_and_logs_are_json(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    store_dir = tmp_path / "store"
    publish_segment(store_dir)
    origin = start_vodstack(
        "origin", "--host", "127.0.0.1", "--port", "0", "--store", f"file://{store_dir}",
        "--data-dir", str(tmp_path / "data"), "--log-format", "json", name="origin",
    )
    edge = start_vodstack(
        "edge", "--host", "127.0.0.1", "--port", "0", "--upstream", origin.url,
        "--health-check-interval", "0", "--log-format", "json", name="edge",
    )
    for n in range(3):
        status, headers, body = http_get(
            edge.url + SEGMENT_PATH, {"X-Request-Id": f"edge-trace-{n}"}
        )
        assert (status, body == SEGMENT_BYTES) == (200, True)
        assert headers["X-Request-Id"] == f"edge-trace-{n}"
    send_malformed_request(origin.url)
    edge_metrics = scrape_sync(edge.url)
    assert edge_metrics.value("vodstack_edge_requests_total", cache="miss") == 1
    assert edge_metrics.value("vodstack_edge_requests_total", cache="hit") == 2
    origin.stop()
    edge.stop()

    origin_log = json_lines(origin)
    requests = [line for line in origin_log if line["logger"] == "vodstack.access"]
    media = [line for line in requests if line.get("route") == "/v/{video_id}/{path}"]
    assert [(line["request_id"], line["status"], line["path"]) for line in media] == [
        ("edge-trace-0", 200, SEGMENT_PATH)
    ]
    assert media[0]["bytes"] > len(SEGMENT_BYTES) and media[0]["remote"] == "127.0.0.1"
    refused = [line for line in origin_log if line["logger"] == "aiohttp.server"]
    assert refused and "malformed" in refused[0]["message"]  # aiohttp's own line, as JSON
    edge_log = json_lines(edge)
    edge_requests = [line for line in edge_log if line["logger"] == "vodstack.access"]
    # Each edge worker process writes its own lines: one request's line can follow the next
    # one's when they were answered by different processes.
    assert sorted(
        line["request_id"] for line in edge_requests if line["path"] == SEGMENT_PATH
    ) == [f"edge-trace-{n}" for n in range(3)]
    assert any("listening on" in line["message"] for line in edge_log)


def test_check_exits_0_when_ready_and_1_when_stopped(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    origin = start_vodstack(
        "origin", "--host", "127.0.0.1", "--port", "0",
        "--store", f"file://{tmp_path / 'store'}", "--data-dir", str(tmp_path / "data"),
        name="origin",
    )
    port = origin.url.rsplit(":", 1)[1]
    ready = run_check("--url", origin.url)
    assert ready.returncode == 0, ready.stderr
    assert "ready" in ready.stdout
    from_env = run_check(env={"VODSTACK_PORT": port, "VODSTACK_HOST": "0.0.0.0"})
    assert from_env.returncode == 0, from_env.stderr
    live = run_check("--live", "--port", port)
    assert live.returncode == 0 and "/healthz" in live.stdout
    origin.stop()
    stopped = run_check("--url", origin.url, "--timeout", "2")
    assert stopped.returncode == 1
    assert "not ready" in stopped.stderr and "Traceback" not in stopped.stderr
    assert stopped.stderr.count("\n") == 1


def test_check_reports_what_readyz_lists(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    """A service whose store is gone answers 503 on /readyz; check says why and exits 1."""
    store_dir = tmp_path / "store"
    origin = start_vodstack(
        "origin", "--host", "127.0.0.1", "--port", "0", "--store", f"file://{store_dir}",
        "--data-dir", str(tmp_path / "data"), name="origin",
    )
    assert run_check("--url", origin.url).returncode == 0
    (store_dir / "data").rename(tmp_path / "moved")
    (store_dir / "data").write_bytes(b"not a directory")
    result = run_check("--url", origin.url)
    assert result.returncode == 1
    assert "503" in result.stderr and "store" in result.stderr


def test_serve_records_job_metrics_and_the_upload_request_id(
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    server = start_vodstack(
        "serve", "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1", "--port", "0",
        "--log-format", "json",
        env={"VODSTACK_X264_PRESET": "ultrafast", "VODSTACK_TOP_RUNG": "240"},
        name="serve",
    )
    clip = make_clip(duration=2, width=320, height=240)
    status, body, headers = upload_file(server.url, clip, headers={"X-Request-Id": "upload-9"})
    assert status == 201, body
    assert headers["X-Request-Id"] == "upload-9"
    video = wait_for_status(body["status_url"], {"ready", "failed"}, timeout=180)
    assert video["status"] == "ready", video
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video\n" * 100)
    status, failed_body, _ = upload_file(server.url, not_video, headers={"X-Request-Id": "bad-1"})
    assert status == 201
    assert wait_for_status(failed_body["status_url"], {"ready", "failed"})["status"] == "failed"

    metrics = scrape_sync(server.url)
    assert metrics.value("vodstack_upload_to_ready_seconds_count") == 1
    assert 0 < metrics.value("vodstack_upload_to_ready_seconds_sum") < 180
    assert metrics.value("vodstack_jobs_started_total") == 2
    assert metrics.value("vodstack_jobs_finished_total", outcome="succeeded") == 1
    assert metrics.value("vodstack_jobs_finished_total", outcome="failed") == 1
    assert metrics.value("vodstack_jobs_finished_total", outcome="retried") == 0
    assert metrics.value("vodstack_job_duration_seconds_count", outcome="succeeded") == 1
    assert metrics.value("vodstack_job_queue_wait_seconds_count") == 2
    assert metrics.value("vodstack_ffmpeg_speed_ratio_count") == 1
    assert metrics.value("vodstack_ffmpeg_speed_ratio_sum") > 0
    assert metrics.value("vodstack_jobs_running") == 0
    assert metrics.value("vodstack_queue_depth") == 0
    store_calls = "vodstack_store_operation_duration_seconds_count"
    assert metrics.value(store_calls, operation="put_stream") == 2
    assert metrics.value(store_calls, operation="put_file") >= 3
    assert metrics.value("vodstack_store_written_bytes_total") > clip.stat().st_size
    assert metrics.value(
        "vodstack_http_requests_total", route="/v1/videos", method="POST", status="201"
    ) == 2
    assert metrics.value("vodstack_disk_available_bytes", volume="store") > 0
    server.stop()

    log = json_lines(server)
    job_lines = [line for line in log if line.get("video_id") == body["id"] and "job_id" in line]
    assert {line["event"] for line in job_lines} >= {"started", "succeeded"}
    assert all(line["request_id"] == "upload-9" for line in job_lines)
    succeeded = next(line for line in job_lines if line["event"] == "succeeded")
    assert succeeded["duration"] > 0 and "encode" in succeeded["timings"]
    failed_lines = [line for line in log if line.get("video_id") == failed_body["id"]]
    assert failed_lines and all(line["request_id"] == "bad-1" for line in failed_lines)
    upload_lines = [
        line for line in log
        if line["logger"] == "vodstack.access" and line.get("route") == "/v1/videos"
    ]
    assert sorted(line["request_id"] for line in upload_lines) == ["bad-1", "upload-9"]


SERVICE_FAMILIES = {
    "ingest": ("vodstack_queue_depth", "vodstack_store_operation_duration_seconds"),
    "worker": ("vodstack_jobs_started", "vodstack_queue_depth", "vodstack_disk_available_bytes"),
    "origin": ("vodstack_store_operation_duration_seconds",),
    "edge": ("vodstack_edge_requests", "vodstack_edge_upstream_breaker_state"),
}


@pytest.mark.parametrize("command", sorted(SERVICE_FAMILIES))
def test_every_service_answers_health_readiness_and_metrics(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path, command: str
) -> None:
    args = ["--host", "127.0.0.1", "--port", "0"]
    if command == "edge":
        args += ["--upstream", "http://127.0.0.1:9", "--health-check-interval", "0"]
    else:
        args += ["--data-dir", str(tmp_path / "data")]
    service = start_vodstack(command, *args, name=command)
    for path in ("/healthz", "/readyz"):
        status, headers, _ = http_get(service.url + path)
        assert status == 200 and headers["X-Request-Id"]
    metrics = scrape_sync(service.url)
    assert metrics.families["vodstack_http_requests"] == "counter"
    for family in SERVICE_FAMILIES[command]:
        assert family in metrics.families, family
    assert metrics.value("vodstack_http_requests_total", route="/readyz", status="200") == 1
    assert metrics.value("vodstack_build_info") == 1
    assert run_check("--url", service.url).returncode == 0
