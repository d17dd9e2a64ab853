"""The pages in a real browser against `vodstack serve` (and `vodstack edge`) processes.

Debian's Chromium runs headless, driven by Playwright; playback uses the hls.js installed
by `npm ci`. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Response, ViewportSize

from tests.support.browser import as_json, chromium, screenshot, throttle_uploads, wait_for
from tests.support.hls import http_json, upload_file, wait_for_status
from tests.support.processes import VodstackProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(280)]

FAST_ENCODE = {"VODSTACK_X264_PRESET": "ultrafast"}
VIEWPORT: ViewportSize = {"width": 1100, "height": 820}
HOSTILE_TITLE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> & co'
PHASE_ORDER = ["waiting", "uploading", "queued", "processing", "ready"]
SEGMENT_RE = re.compile(r"\.(m4s|ts)$|/init\.mp4$")

# Records every change of the first list item's phase and progress bar value.
RECORD_PROGRESS = """() => {
  window.progressSeen = [];
  const list = document.getElementById("video-list");
  const record = () => {
    const item = list.querySelector("li");
    if (!item) return;
    const row = item.querySelector(".progress-row");
    const bar = row.querySelector("progress");
    const value = row.hidden || !bar.hasAttribute("value") ? null : bar.value;
    const last = window.progressSeen[window.progressSeen.length - 1];
    if (!last || last[0] !== item.dataset.phase || last[1] !== value) {
      window.progressSeen.push([item.dataset.phase, value]);
    }
  };
  new MutationObserver(record).observe(list, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}"""
# Records the states the watch page shows, from its very first render.
RECORD_WATCH_STATUS = """
window.watchStatusSeen = [];
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("watch");
  new MutationObserver(() => {
    const seen = window.watchStatusSeen;
    if (seen[seen.length - 1] !== root.dataset.status) seen.push(root.dataset.status);
  }).observe(root, { attributes: true, attributeFilter: ["data-status"] });
});
"""
PLAYER_STATE = """() => ({
  state: window.playerState,
  currentLevel: window.player && window.player.currentLevel,
  currentTime: document.getElementById("video").currentTime,
  shown: document.getElementById("current-level").textContent,
  error: document.getElementById("player-error").textContent,
})"""


@pytest.fixture
def serve(start_vodstack: Callable[..., VodstackProcess], tmp_path: Path) -> VodstackProcess:
    return start_vodstack(
        "serve", "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1", "--port", "0",
        env=FAST_ENCODE, name="serve",
    )


def patch_title(status_url: str, title: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        status_url,
        data=json.dumps({"title": title}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def collect_console_errors(page: Page) -> list[str]:
    """Errors the page logs, CSP refusals included; the list fills as the page runs."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    return errors


def wait_until_playing_past(page: Page, seconds: float) -> None:
    wait_for(
        page,
        "() => window.player && window.player.levels.length > 0",
        timeout=30,
        what="hls.js to parse the master playlist",
        debug=PLAYER_STATE,
    )
    page.evaluate('() => document.getElementById("video").play()')
    wait_for(
        page,
        f'() => document.getElementById("video").currentTime > {seconds}',
        timeout=60,
        what=f"playback past {seconds} s",
        debug=PLAYER_STATE,
    )


def test_upload_through_the_form_then_watch(
    serve: VodstackProcess, make_clip: Callable[..., Path]
) -> None:
    clip = make_clip(duration=10, width=1280, height=720)
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        console_errors = collect_console_errors(page)
        media: list[Response] = []
        page.on("response", lambda response: media.append(response))

        # Upload through the form; uploads throttled so progress comes in steps.
        page.goto(serve.url + "/")
        page.evaluate(RECORD_PROGRESS)
        throttle_uploads(page, 8_000_000)
        page.set_input_files("#upload-input", str(clip))
        phase = wait_for(
            page,
            """() => { const li = document.querySelector("#video-list li");
                       return li && ["ready", "failed", "upload-failed"].includes(li.dataset.phase)
                              && li.dataset.phase; }""",
            timeout=200,
            what="the upload to be transcoded",
            debug="() => window.progressSeen",
        )
        seen = page.evaluate("() => window.progressSeen")
        assert phase == "ready", as_json(seen)
        ranks = [PHASE_ORDER.index(p) for p, _value in seen]
        assert ranks == sorted(ranks), f"progress went backwards: {as_json(seen)}"
        uploading = [value for p, value in seen if p == "uploading" and value is not None]
        assert any(0 < value < 100 for value in uploading), as_json(seen)
        assert uploading == sorted(uploading) and uploading[-1] == 100, as_json(seen)
        transcoding = [value for p, value in seen if p == "processing"]
        assert transcoding and transcoding == sorted(transcoding), as_json(seen)

        item = page.locator("#video-list li").first
        video_id = item.get_attribute("data-id")
        assert video_id
        _code, video = http_json(f"{serve.url}/v1/videos/{video_id}")
        assert video["status"] == "ready"
        assert item.locator(".title-link").text_content() == clip.stem
        assert item.locator(".duration").text_content() == "0:10"
        assert item.locator("img.poster").get_attribute("src") == video["poster_url"]
        wait_for(
            page,
            '() => { const img = document.querySelector("#video-list li img.poster");'
            " return img && img.complete && img.naturalWidth > 0; }",
            timeout=10,
            what="the poster to load",
        )
        screenshot(page, "library.png", full_page=True)

        # The watch page: hls.js, the ladder from the API, playback.
        item.locator(".watch-link").click()
        page.wait_for_url(f"**/watch/{video_id}")
        wait_until_playing_past(page, 3)
        levels = page.evaluate(
            "() => window.player.levels.map(l => ({height: l.height, bitrate: l.bitrate}))"
        )
        ladder = video["renditions"]
        assert len(levels) == len(ladder)
        assert sorted(level["height"] for level in levels) == sorted(r["height"] for r in ladder)
        state = page.evaluate(PLAYER_STATE)
        assert state["state"]["mode"] == "hls.js"
        assert state["state"]["fatalErrors"] == [], as_json(state)
        assert page.get_attribute("#video", "poster") == video["poster_url"]
        menu = page.eval_on_selector_all(
            "#quality option", "options => options.map(o => [o.value, o.textContent])"
        )
        assert menu[0] == ["-1", "Auto"]
        assert len(menu) == len(levels) + 1
        heights_in_menu = [int(label.split("p", 1)[0]) for _value, label in menu[1:]]
        assert heights_in_menu == sorted(heights_in_menu, reverse=True)
        for _value, label in menu[1:]:
            assert re.fullmatch(r"\d+p · [0-9.]+ [kM]b/s", label), label
        assert re.fullmatch(r"\d+p · .+ \(auto\)", page.text_content("#current-level") or "")
        screenshot(page, "watch.png")

        # Choose the lowest quality: hls.js switches and loads segments of that rendition.
        lowest = min(range(len(levels)), key=lambda index: levels[index]["height"])
        lowest_height = levels[lowest]["height"]
        lowest_name = next(r["name"] for r in ladder if r["height"] == lowest_height)
        already = len(media)
        page.select_option("#quality", str(lowest))
        wait_for(
            page,
            f"""() => window.player.currentLevel === {lowest}
                && document.getElementById("current-level").dataset.height === "{lowest_height}"
                """,
            timeout=30,
            what=f"the switch to {lowest_height}p",
            debug=PLAYER_STATE,
        )
        switched = page.evaluate("() => window.playerState.levelSwitches")
        assert switched[-1]["height"] == lowest_height, switched
        assert (page.text_content("#current-level") or "").startswith(f"{lowest_height}p · ")
        assert _wait_for_segment(page, media, already, f"/{lowest_name}/"), (
            f"no {lowest_name} segment loaded after the switch"
        )
        assert page.evaluate("() => window.playerState.fatalErrors") == []

        # A deep link starts playback where it says.
        page.goto(f"{serve.url}/watch/{video_id}#t=6")
        wait_until_playing_past(page, 0.1)
        start = page.evaluate('() => document.getElementById("video").currentTime')
        assert 5.5 <= start <= 10, start
        assert console_errors == []


def _wait_for_segment(page: Page, responses: list[Response], start: int, part: str) -> bool:
    def found() -> bool:
        return any(
            part in response.url and SEGMENT_RE.search(urlsplit(response.url).path)
            for response in responses[start:]
        )

    for _ in range(200):
        if found():
            return True
        page.wait_for_timeout(100)
    return found()


def test_titles_are_escaped_failures_explained_and_videos_deleted(
    serve: VodstackProcess, tmp_path: Path
) -> None:
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("these are not the frames you are looking for\n" * 200)
    code, created, _headers = upload_file(serve.url, not_a_video)
    assert code == 201, created
    video = wait_for_status(created["status_url"], {"ready", "failed"}, timeout=90)
    assert video["status"] == "failed" and video["error"]
    item = f"#video-list li[data-id='{video['id']}']"

    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        dialogs: list[tuple[str, str]] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append((dialog.type, dialog.message))
            dialog.accept()

        page.on("dialog", on_dialog)
        page.goto(serve.url + "/")
        page.wait_for_selector(item)
        assert page.text_content(f"{item} .error-reason") == video["error"]
        assert page.is_visible(f"{item} .error-reason")
        assert page.get_attribute(item, "data-status") == "failed"

        # Rename in place to a title that is also markup.
        page.click(f"{item} .rename-button")
        page.fill(f"{item} .rename input", HOSTILE_TITLE)
        page.press(f"{item} .rename input", "Enter")
        page.wait_for_selector(f"{item} .rename", state="hidden")
        assert http_json(video["status_url"])[1]["title"] == HOSTILE_TITLE

        page.reload()
        page.wait_for_selector(item)
        assert page.text_content(f"{item} .title-link") == HOSTILE_TITLE
        injected = page.evaluate(
            """() => ({
              elements: document.querySelectorAll(
                "#video-list script, #video-list img:not(.poster)").length,
              pwned: window.pwned === undefined ? null : window.pwned,
            })"""
        )
        assert injected == {"elements": 0, "pwned": None}
        screenshot(page, "library-failed.png", full_page=True)

        # The watch page of a failed video explains instead of showing a broken player.
        page.goto(f"{serve.url}/watch/{video['id']}")
        page.wait_for_selector("#status-error", state="visible")
        assert page.text_content("#status-error") == video["error"]
        assert page.is_hidden("#video")
        assert page.text_content("#video-title") == HOSTILE_TITLE
        assert page.title() == f"{HOSTILE_TITLE} · vodstack"
        assert page.evaluate("() => document.querySelectorAll('main script').length") == 0
        screenshot(page, "watch-failed.png")

        # Delete, after confirming.
        page.goto(serve.url + "/")
        page.click(f"{item} .delete-button")
        page.wait_for_selector(item, state="detached")
        assert [kind for kind, _message in dialogs] == ["confirm"]
        assert http_json(video["status_url"])[0] == 404


def play_through(browser: Browser, url: str, seconds: float) -> tuple[list[Response], list[str]]:
    """One viewer (a fresh browser context, so an empty browser cache) opens `url`, waits
    for the video to be ready if it is not yet, and plays it; returns the responses and the
    states the page went through."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(script=RECORD_WATCH_STATUS)
        page = context.new_page()
        responses: list[Response] = []
        page.on("response", lambda response: responses.append(response))
        console_errors = collect_console_errors(page)
        page.goto(url)
        wait_for(
            page,
            '() => document.getElementById("watch").dataset.status === "ready"',
            timeout=200,
            what="the video to be ready",
            debug="() => window.watchStatusSeen",
        )
        wait_until_playing_past(page, seconds)
        assert page.evaluate("() => window.playerState.fatalErrors") == []
        assert console_errors == []
        return responses, page.evaluate("() => window.watchStatusSeen")
    finally:
        context.close()


def test_playback_through_the_edge_is_served_from_its_cache(
    serve: VodstackProcess,
    start_vodstack: Callable[..., VodstackProcess],
    make_clip: Callable[..., Path],
) -> None:
    edge = start_vodstack(
        "edge", "--upstream", serve.url, "--host", "127.0.0.1", "--port", "0", name="edge"
    )
    clip = make_clip(duration=10, width=1280, height=720)
    code, created, _headers = upload_file(serve.url, clip)
    assert code == 201, created

    # The first viewer arrives while the video is still being transcoded.
    watch_url = f"{edge.url}/watch/{created['id']}"
    with chromium() as browser:
        first, states = play_through(browser, watch_url, 3)
        second, _states = play_through(browser, watch_url, 3)
        third, _states = play_through(browser, watch_url, 3)
    assert states[-1] == "ready" and {"queued", "processing"} & set(states), states

    def segments(responses: list[Response]) -> dict[str, str]:
        return {
            r.url: r.headers.get("x-cache", "")
            for r in responses
            if r.status == 200 and SEGMENT_RE.search(urlsplit(r.url).path)
        }

    first_segments, second_segments = segments(first), segments(second)
    third_segments = segments(third)
    masters = [r for r in first if r.url.endswith("/master.m3u8")]
    assert masters and all(r.url.startswith(edge.url + "/v/") for r in masters)
    assert all(url.startswith(edge.url + "/v/") for url in first_segments)
    assert "MISS" in first_segments.values(), as_json(first_segments)
    # hls.js picks its first rendition from the master's BANDWIDTH, estimated while the video
    # grows and measured once it is ready, so the first viewer may play another rendition
    # than the later ones; the third is compared with everything fetched before it.
    earlier = {**first_segments, **second_segments}
    again = sorted(set(earlier) & set(third_segments))
    assert len(again) >= 2, as_json(
        {"first": first_segments, "second": second_segments, "third": third_segments}
    )
    assert {url: third_segments[url] for url in again} == dict.fromkeys(again, "HIT")
