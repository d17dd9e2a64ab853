"""Headless Chromium (Debian's, never a downloaded one) driven by Playwright, and helpers
for waiting on page state without `eval` (the pages' CSP forbids it, rightly)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.processes import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
HLSJS = REPO_ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"


def require(condition: bool, message: str) -> None:
    """Missing tools fail the run in CI (where install.sh provides them), skip elsewhere."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Browser]:
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: scripts/install.sh --test installs it")
    require(HLSJS.exists(), f"{HLSJS} is missing: run `npm ci --omit=dev` in {REPO_ROOT}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


def wait_for(page: Page, script: str, *, timeout: float, what: str, debug: str = "") -> Any:
    """Evaluate `script` (a JS function) every 100 ms until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(script)
        if value:
            return value
        if time.monotonic() > deadline:
            state = page.evaluate(debug) if debug else None
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}: {state!r}")
        time.sleep(0.1)


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def throttle_uploads(page: Page, bytes_per_second: int) -> None:
    """Slow the page's uploads down (Chrome DevTools network emulation) so that progress
    events arrive in several steps, as they do on a real network."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def as_json(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
