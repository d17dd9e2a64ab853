"""`vodstack loadtest` usage errors and failures, as a user meets them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ingest_server import running_ingest
from tests.support.processes import REPO_ROOT, free_port
from vodstack import api_keys
from vodstack.cli import main
from vodstack.loadtest.config import LoadTestConfig
from vodstack.loadtest.runner import run_loadtest
from vodstack.loadtest.targets import TargetError
from vodstack.settings import Settings


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vodstack", "loadtest", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip


def test_bad_options_are_one_line_and_exit_2(capsys: object) -> None:
    assert main(["loadtest", "http://h/m.m3u8", "--players", "0"]) == 2
    assert main(["loadtest", "http://h/m.m3u8", "--players", "100000"]) == 2
    assert main(["loadtest", "http://h/m.m3u8", "--bandwidth", "fast"]) == 2
    assert main(["loadtest", "h/m.m3u8"]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "--players must be at least 1" in err
    assert "add --force" in err
    assert "--bandwidth: not a bit rate: 'fast'" in err
    assert "is not an http:// or https:// URL" in err


def test_unreachable_server_is_reported_as_failed_requests() -> None:
    """Nothing listens: every attempt is a connection failure, retried once a second per
    player, and the report says so (exit 1 with --fail-on-errors)."""
    url = f"http://127.0.0.1:{free_port()}/v/AbCdEfGhIjKlMnOp/master.m3u8"
    result = run_cli(url, "--players", "2", "--duration", "1.5", "--json", "--fail-on-errors")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == report["requests"] >= 2
    assert set(report["statuses"]) == {"connect failed"}
    assert report["playback"]["failed"] == report["playback"]["sessions"] >= 2
    assert report["playback"]["started"] == 0


async def test_no_ready_video_at_an_api_base(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data").validate()
    async with running_ingest(settings) as ingest:
        config = LoadTestConfig(targets=(ingest.url,), players=1, duration=1)
        with pytest.raises(TargetError, match="no ready video found"):
            await run_loadtest(config)


def test_not_a_vodstack_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli(url, "--duration", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("vodstack: cannot list videos at")


async def test_listing_that_needs_a_key_says_so_and_uses_the_key(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", require_api_key=True, api_reads="key"
    ).validate()
    async with running_ingest(settings) as ingest:
        made = api_keys.new_key("loadtest")
        await ingest.catalog.api_keys.add_key(made.record)
        without = LoadTestConfig(targets=(ingest.url,), players=1, duration=1)
        with pytest.raises(TargetError, match=r"HTTP 401: listing videos needs --api-key"):
            await run_loadtest(without)
        # With the key the listing is read (and is empty: nothing is ready yet).
        with_key = dataclasses.replace(without, api_key=made.key)
        with pytest.raises(TargetError, match="no ready video found"):
            await run_loadtest(with_key)
        assert made.key not in repr(with_key)
