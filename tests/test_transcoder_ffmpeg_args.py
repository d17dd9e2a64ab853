"""The one ffmpeg command: its arguments, and one real run that makes every output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import m3u8
import pytest

from transcoder.ffmpeg_args import (
    EncodeOptions,
    OutputLayout,
    gop_frames,
    keyframe_expression,
    poster_offset,
    transcode_args,
)
from transcoder.ladder import ladder_for
from transcoder.probe import AudioInfo, ProbeResult, VideoInfo, probe
from transcoder.runner import run_ffmpeg

STEREO = AudioInfo(index=1, codec="aac", channels=2, sample_rate=48000)


def source(width: int = 1280, height: int = 720, audio: AudioInfo | None = STEREO) -> ProbeResult:
    video = VideoInfo(
        index=0, codec="h264", pix_fmt="yuv420p", width=width, height=height,
        sample_aspect_ratio=Fraction(1), rotation=0, frame_rate=Fraction(30),
        variable_frame_rate=False,
    )  # fmt: skip
    return ProbeResult(format_name="mp4", duration=10.0, video=video, audio=audio)


def args_for(
    info: ProbeResult, options: EncodeOptions | None = None, root: str = "/scratch/out"
) -> list[str]:
    options = options or EncodeOptions()
    layout = OutputLayout(Path(root), options.segment_extension)
    return transcode_args(Path("/scratch/src"), info, ladder_for(info), layout, options)


def output_options(args: list[str], target: str) -> list[str]:
    """The options of one output: from the previous output file (or the graph) to `target`."""
    end = args.index(target)
    earlier = [i for i, arg in enumerate(args[:end]) if arg.endswith((".m3u8", ".jpg"))]
    start = earlier[-1] + 1 if earlier else args.index("-filter_complex") + 2
    return args[start:end]


def option(options: list[str], name: str) -> str:
    return options[options.index(name) + 1]


def test_one_input_decoded_once_and_split_per_rung_plus_poster() -> None:
    args = args_for(source())
    assert args[0] == "ffmpeg"
    assert args.count("-i") == 1 and option(args, "-i") == "/scratch/src"
    graph = option(args, "-filter_complex")
    assert graph.startswith("[0:0]fps=fps=30[")
    assert "split=5" in graph  # four rungs and the poster
    for size in ("1280:720", "854:480", "640:360", "426:240"):
        assert f"scale={size}" in graph
    assert graph.count("setsar=1") == 5
    assert "trim=duration=1:start=1.000" in graph


def test_every_rung_is_an_hls_output_with_aligned_keyframes() -> None:
    args = args_for(source())
    for name, bitrate in (("720p", "2800000"), ("240p", "400000")):
        opts = output_options(args, f"/scratch/out/{name}/index.m3u8")
        assert option(opts, "-f") == "hls"
        assert option(opts, "-c:v") == "libx264"
        assert option(opts, "-preset") == "veryfast"
        assert option(opts, "-b:v") == bitrate
        assert option(opts, "-force_key_frames") == "expr:gte(t,n_forced*2)"
        assert option(opts, "-sc_threshold") == "0"
        assert option(opts, "-flags") == "+cgop"
        assert option(opts, "-g") == option(opts, "-keyint_min") == "60"
        assert option(opts, "-hls_time") == "4"
        # ffmpeg rewrites an EVENT playlist after each segment, every file under a
        # temporary name until complete: the worker publishes what it lists as it goes.
        assert option(opts, "-hls_playlist_type") == "event"
        assert option(opts, "-hls_flags") == "independent_segments+temp_file"
        assert option(opts, "-hls_segment_type") == "fmp4"
        assert option(opts, "-hls_fmp4_init_filename") == "init.mp4"
        assert option(opts, "-hls_segment_filename") == f"/scratch/out/{name}/%d.m4s"
        assert option(opts, "-c:a") == "aac"
        assert "-map" in opts and "0:1" in opts


def test_mpegts_segments() -> None:
    args = args_for(source(), EncodeOptions(segment_format="ts"))
    opts = output_options(args, "/scratch/out/720p/index.m3u8")
    assert option(opts, "-hls_segment_type") == "mpegts"
    assert option(opts, "-hls_segment_filename") == "/scratch/out/720p/%d.ts"
    assert "-hls_fmp4_init_filename" not in opts


def test_silent_source_gives_video_only_renditions() -> None:
    args = args_for(source(audio=None))
    assert "-c:a" not in args
    assert "0:1" not in args


def test_global_options_progress_and_threads() -> None:
    args = args_for(source(), EncodeOptions(threads=2, preset="ultrafast", ffmpeg="/opt/ffmpeg"))
    assert args[0] == "/opt/ffmpeg"
    assert option(args, "-progress") == "pipe:1"
    assert "-nostats" in args and "-nostdin" in args and "-y" in args
    assert option(args, "-filter_complex_threads") == "2"
    assert args[args.index("-i") - 2 : args.index("-i")] == ["-threads", "2"]
    opts = output_options(args, "/scratch/out/720p/index.m3u8")
    assert option(opts, "-threads") == "2"
    assert option(opts, "-preset") == "ultrafast"


def test_poster_output() -> None:
    args = args_for(source())
    opts = output_options(args, "/scratch/out/poster.jpg")
    assert option(opts, "-frames:v") == "1"
    assert option(opts, "-update") == "1"


@pytest.mark.parametrize(
    ("duration", "rate", "expected"),
    [(10.0, Fraction(30), 1.0), (600.0, Fraction(30), 5.0), (0.5, Fraction(30), 1 / 30),
     (0.2, Fraction(25), 0.0), (7.0, Fraction(30000, 1001), 20 * 1001 / 30000)],
)  # fmt: skip
def test_poster_offset(duration: float, rate: Fraction, expected: float) -> None:
    assert poster_offset(duration, rate) == pytest.approx(expected)


def test_keyframe_expression_and_gop() -> None:
    assert keyframe_expression(2.0) == "expr:gte(t,n_forced*2)"
    assert keyframe_expression(1.5) == "expr:gte(t,n_forced*1.5)"
    assert gop_frames(Fraction(30000, 1001), 2.0) == 60
    assert gop_frames(Fraction(25), 2.0) == 50
    assert gop_frames(Fraction(1, 2), 1.0) == 1


# -- a real run ------------------------------------------------------------------------


def ffprobe_json(*args: str) -> Any:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", *args],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return json.loads(out)


@pytest.mark.slow
async def test_the_built_command_makes_every_output(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip(duration=6, width=640, height=360, fps=25)
    info = await probe(clip)
    rungs = ladder_for(info)
    assert [r.name for r in rungs] == ["360p", "240p"]
    options = EncodeOptions(preset="ultrafast")
    layout = OutputLayout(tmp_path / "out", options.segment_extension)
    for rung in rungs:
        layout.rendition_dir(rung.name).mkdir(parents=True)
    reported: list[float] = []
    await run_ffmpeg(
        transcode_args(clip, info, rungs, layout, options),
        time_limit=120, duration=info.duration, on_progress=reported.append,
    )  # fmt: skip
    assert reported and reported[-1] == 100.0
    assert reported == sorted(reported)

    boundaries = []
    for rung in rungs:
        playlist = m3u8.load(str(layout.playlist(rung.name)))
        assert playlist.is_endlist and playlist.playlist_type == "event"
        assert not any(path.suffix == ".tmp" for path in layout.rendition_dir(rung.name).iterdir())
        assert playlist.segment_map[0].uri == "init.mp4"
        durations = [s.duration for s in playlist.segments]
        assert sum(durations) == pytest.approx(6.0, abs=0.1)
        assert max(durations) <= 4.0 + 1e-6
        boundaries.append(durations)
        init = (layout.rendition_dir(rung.name) / "init.mp4").read_bytes()
        first = (layout.rendition_dir(rung.name) / playlist.segments[0].uri).read_bytes()
        joined = tmp_path / f"{rung.name}-first.mp4"
        joined.write_bytes(init + first)
        streams = ffprobe_json("-show_streams", str(joined))["streams"]
        video = next(s for s in streams if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (rung.width, rung.height)
        assert video["r_frame_rate"] == "25/1"
        assert any(s["codec_type"] == "audio" for s in streams)
    # Keyframes at the same instants in every rendition: identical segment boundaries.
    assert boundaries[0] == boundaries[1]

    poster = ffprobe_json("-show_streams", str(layout.poster))["streams"][0]
    assert poster["codec_name"] == "mjpeg"
    assert (poster["width"], poster["height"]) == (640, 360)
