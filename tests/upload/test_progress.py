"""CLI progress lines: the pure formatting and when lines are written."""

from __future__ import annotations

import io

from vodstack.client import DEFAULT_SERVER, ClientError, server_url
from vodstack.commands.client import format_table, format_video
from vodstack.progress import CLEAR_LINE, ProgressLine, bar, plain_step, transcode_line, upload_line


def test_upload_line() -> None:
    line = upload_line(50_000_000, 200_000_000, 2.0, with_bar=False)
    assert line == " 25%  50.0 MB of 200.0 MB  25.0 MB/s"
    assert upload_line(0, 10, 0.0, with_bar=True).startswith("[" + "." * 30 + "]")
    assert upload_line(10, 10, 1.0, with_bar=True).startswith("[" + "#" * 30 + "]")
    assert "100%" in upload_line(0, 0, 0.0, with_bar=False)  # an empty file is done at once


def test_transcode_line() -> None:
    assert transcode_line("queued", None, with_bar=False) == "transcoding: queued"
    assert transcode_line("processing", 42.0, with_bar=False) == "transcoding:  42%"
    assert transcode_line("processing", 50.0, with_bar=True) == f"transcoding: {bar(50)}  50%"
    assert bar(50, width=4) == "[##..]"


def test_plain_steps() -> None:
    assert [plain_step(p) for p in (0, 9.9, 10, 55, 99.9, 100)] == [0, 0, 10, 50, 90, 100]


def test_plain_output_is_one_line_per_ten_percent() -> None:
    out = io.StringIO()
    line = ProgressLine(out, tty=False)
    for share in range(0, 101):
        line.show(f"at {share}", share)
    line.end()
    assert out.getvalue().splitlines() == [f"at {n}" for n in range(0, 101, 10)]


def test_plain_output_repeats_on_a_new_phase() -> None:
    out = io.StringIO()
    line = ProgressLine(out, tty=False)
    line.show("queued", 0, label="queued")
    line.show("queued", 0, label="queued")
    line.show("processing 0", 0, label="processing")
    assert out.getvalue().splitlines() == ["queued", "processing 0"]


def test_tty_output_redraws_in_place_at_most_ten_times_a_second() -> None:
    now = [0.0]
    out = io.StringIO()
    line = ProgressLine(out, tty=True, clock=lambda: now[0])
    for step in range(100):
        now[0] = step * 0.01  # 100 updates over one second
        line.show(f"at {step}", step)
    line.show("done", 100, force=True)
    line.end()
    text = out.getvalue()
    draws = text.count(CLEAR_LINE)
    assert 10 <= draws <= 12
    assert text.endswith(CLEAR_LINE + "done\n")


def test_server_url_choice() -> None:
    assert server_url(None, {}) == DEFAULT_SERVER
    assert server_url(None, {"VODSTACK_SERVER": "http://h:1/"}) == "http://h:1"
    assert server_url("https://x", {"VODSTACK_SERVER": "http://h:1"}) == "https://x"
    try:
        server_url("h:1", {})
    except ClientError as exc:
        assert "http://" in str(exc)
    else:
        raise AssertionError("a URL without a scheme was accepted")


def test_table_and_status_text() -> None:
    videos = [
        {
            "id": "AAAAAAAAAAAAAAAA",
            "status": "processing",
            "progress": 41.6,
            "size": 2_500_000,
            "created_at": "2024-05-01T12:00:00.000Z",
            "title": "Holiday",
        },
        {
            "id": "BBBBBBBBBBBBBBBB",
            "status": "ready",
            "size": 0,
            "created_at": "2024-05-01T11:00:00.000Z",
            "title": None,
            "filename": "b.mp4",
        },
    ]
    lines = format_table(videos).splitlines()
    assert lines[0].split() == ["ID", "STATUS", "SIZE", "CREATED", "(UTC)", "TITLE"]
    assert lines[1].split() == [
        "AAAAAAAAAAAAAAAA",
        "processing",
        "42%",
        "2.5",
        "MB",
        "2024-05-01",
        "12:00:00",
        "Holiday",
    ]
    assert lines[2].endswith("b.mp4")
    assert format_table([]) == "no videos"
    text = format_video(
        {
            **videos[1],
            "playback_url": "http://x/v/B/master.m3u8",
            "renditions": [{"name": "360p", "resolution": "640x360", "bandwidth": 900_000}],
        }
    )
    assert "playback:  http://x/v/B/master.m3u8" in text
    assert "360p 640x360 0.90 Mb/s" in text
