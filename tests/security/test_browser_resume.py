"""The upload form resumes with tus: reload the page mid-upload, pick the same file again,
and only the rest is sent (real Chromium against a real `vodstack serve`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Request

from tests.support.browser import chromium, throttle_uploads, wait_for
from tests.support.processes import VodstackProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MiB = 1024 * 1024
CHUNK = 8 * MiB

PROGRESS = """() => { const bar = document.querySelector("#video-list li .progress-row progress");
                     return bar && bar.hasAttribute("value") ? bar.value : null; }"""


def test_a_reloaded_page_continues_the_upload_of_the_same_file(
    start_vodstack: Callable[..., VodstackProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = start_vodstack(
        "serve", "--data-dir", str(data_dir), "--port", "0", "--worker-concurrency", "0",
    )
    film = tmp_path / "film.mp4"
    film.write_bytes(os.urandom(2 * CHUNK + 3 * MiB))
    with chromium() as browser:
        page = browser.new_page()
        patches: list[int] = []

        def record(request: Request) -> None:
            if request.method == "PATCH":
                patches.append(int(request.headers["upload-offset"]))

        page.on("request", record)
        page.goto(server.url + "/")
        throttle_uploads(page, 6_000_000)
        page.set_input_files("#upload-input", str(film))
        wait_for(page, f"() => {{ const v = ({PROGRESS})(); return v !== null && v > 45; }}",
                 timeout=60, what="the first chunk to be sent")
        page.reload()  # the upload in flight is cut off mid-chunk

        note = page.locator("#library-message")
        note.wait_for(state="visible", timeout=10_000)
        assert "film.mp4" in (note.text_content() or "")
        before = len(patches)
        throttle_uploads(page, 50_000_000)
        page.set_input_files("#upload-input", str(film))
        wait_for(
            page,
            """() => { const li = document.querySelector("#video-list li");
                       return li && ["queued", "upload-failed"].includes(li.dataset.phase)
                              && li.dataset.phase; }""",
            timeout=60,
            what="the upload to finish",
        )
        video_id = page.locator("#video-list li").first.get_attribute("data-id")
        leftover = page.evaluate(
            "() => Object.keys(localStorage).filter(k => k.startsWith('vodstack.upload:'))"
        )

    assert video_id, "the upload did not finish"
    resumed = patches[before:]
    assert resumed and resumed[0] >= CHUNK, patches  # continued, not started over
    stored = data_dir / "store" / "data" / "uploads" / video_id / "source"
    assert stored.read_bytes() == film.read_bytes()
    assert leftover == []
