"""Codec strings read from real libx264 output (fMP4 init segments and MPEG-TS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcoder.codecs import (
    AvcParameters,
    CodecParseError,
    avc_from_annexb,
    avc_from_init_segment,
    avc_from_transport_stream,
    h264_from_transport_stream,
)

DATA = Path(__file__).parent / "data" / "segments"
EXPECTED = {"high": "avc1.64000a", "main": "avc1.4d400a", "baseline": "avc1.42c00a"}


@pytest.mark.parametrize("profile", sorted(EXPECTED))
def test_codec_string_from_fmp4_init_segment(profile: str) -> None:
    data = (DATA / f"{profile}_init.mp4").read_bytes()
    assert avc_from_init_segment(data).codec_string == EXPECTED[profile]


@pytest.mark.parametrize("profile", sorted(EXPECTED))
def test_codec_string_from_transport_stream(profile: str) -> None:
    data = (DATA / f"{profile}.ts").read_bytes()
    assert avc_from_transport_stream(data).codec_string == EXPECTED[profile]


def test_transport_stream_payload_is_annexb_h264() -> None:
    elementary = h264_from_transport_stream((DATA / "high.ts").read_bytes())
    assert elementary.startswith(b"\x00\x00\x00\x01")


def test_codec_string_format() -> None:
    assert AvcParameters(0x64, 0x00, 0x28).codec_string == "avc1.640028"
    assert AvcParameters(0x42, 0xE0, 0x1E).codec_string == "avc1.42e01e"


def test_annexb_sps_after_other_nal_units() -> None:
    stream = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x01\x67\x4d\x40\x1f\xaa"
    assert avc_from_annexb(stream) == AvcParameters(0x4D, 0x40, 0x1F)


@pytest.mark.parametrize(
    "call",
    [
        lambda: avc_from_init_segment(b"\x00" * 64),
        lambda: avc_from_annexb(b"\x00\x00\x01\x09\xf0"),
        lambda: avc_from_transport_stream(b"\x00" * 376),
        lambda: avc_from_transport_stream(b""),
    ],
)
def test_garbage_is_an_error_not_a_crash(call: object) -> None:
    with pytest.raises(CodecParseError):
        call()  # type: ignore[operator]
