"""RFC 6381 codec strings (`avc1.PPCCLL`) read from the encoded bytes themselves.

The profile, constraint flags and level come from the H.264 sequence parameter set the
encoder actually wrote: in the `avcC` box of an fMP4 init segment (ISO/IEC 14496-15
§5.3.3.1), or in the first SPS NAL unit of an MPEG-TS segment (ISO/IEC 13818-1 packets,
PAT → PMT → PES). Pure functions over bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AAC_LC = "mp4a.40.2"
"""ffmpeg's native `aac` encoder writes AAC-LC (MPEG-4 audio object type 2)."""

TS_PACKET = 188
TS_SYNC = 0x47
H264_STREAM_TYPE = 0x1B
NAL_SPS = 7
_START_CODE_RE = re.compile(b"\x00\x00\x01")


class CodecParseError(ValueError):
    """The bytes do not contain what was looked for."""


@dataclass(frozen=True)
class AvcParameters:
    profile_idc: int
    constraint_flags: int
    level_idc: int

    @property
    def codec_string(self) -> str:
        """`avc1.PPCCLL` (RFC 6381 §3.3): three bytes of the SPS, in hex."""
        return (
            f"avc1.{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"
        )


def avc_from_init_segment(data: bytes) -> AvcParameters:
    """Profile/constraints/level from the `avcC` box (AVCDecoderConfigurationRecord)."""
    position = data.find(b"avcC")
    if position < 4:
        raise CodecParseError("no avcC box in the init segment")
    record = data[position + 4: position + 8]
    if len(record) < 4 or record[0] != 1:
        raise CodecParseError("malformed avcC box")
    return AvcParameters(record[1], record[2], record[3])


def avc_from_annexb(data: bytes) -> AvcParameters:
    """Profile/constraints/level from the first SPS NAL unit of an Annex B byte stream."""
    for match in _START_CODE_RE.finditer(data):
        header = match.end()
        if header + 4 > len(data):
            break
        if data[header] & 0x1F == NAL_SPS:
            return AvcParameters(data[header + 1], data[header + 2], data[header + 3])
    raise CodecParseError("no H.264 sequence parameter set found")


def _payload(packet: bytes) -> bytes:
    adaptation = (packet[3] >> 4) & 0x3
    if not adaptation & 0x1:
        return b""
    start = 4
    if adaptation & 0x2:
        start += 1 + packet[4]
    return packet[start:]


def _section(payload: bytes) -> bytes:
    """A PSI section (PAT or PMT) after its pointer field, cut to its length."""
    if not payload:
        return b""
    section = payload[1 + payload[0]:]
    if len(section) < 3:
        return b""
    length = ((section[1] & 0x0F) << 8) | section[2]
    return section[: 3 + length]


def _pmt_pid(pat: bytes) -> int | None:
    # 8 header bytes, then 4-byte (program number, PID) entries, then a 4-byte CRC.
    for offset in range(8, len(pat) - 4, 4):
        program = (pat[offset] << 8) | pat[offset + 1]
        if program != 0:
            return ((pat[offset + 2] & 0x1F) << 8) | pat[offset + 3]
    return None


def _h264_pid(pmt: bytes) -> int | None:
    if len(pmt) < 12:
        return None
    offset = 12 + (((pmt[10] & 0x0F) << 8) | pmt[11])
    while offset + 5 <= len(pmt) - 4:
        stream_type = pmt[offset]
        pid = ((pmt[offset + 1] & 0x1F) << 8) | pmt[offset + 2]
        if stream_type == H264_STREAM_TYPE:
            return pid
        offset += 5 + (((pmt[offset + 3] & 0x0F) << 8) | pmt[offset + 4])
    return None


def _strip_pes_header(payload: bytes) -> bytes:
    if payload[:3] != b"\x00\x00\x01" or len(payload) < 9:
        return payload
    return payload[9 + payload[8]:]


def h264_from_transport_stream(data: bytes, limit: int = 256 * 1024) -> bytes:
    """The start of the H.264 elementary stream in an MPEG-TS file (up to `limit` bytes)."""
    pmt_pid: int | None = None
    video_pid: int | None = None
    elementary = bytearray()
    started = False
    for offset in range(0, len(data) - TS_PACKET + 1, TS_PACKET):
        packet = data[offset: offset + TS_PACKET]
        if packet[0] != TS_SYNC:
            raise CodecParseError("not an MPEG transport stream (lost packet sync)")
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        unit_start = bool(packet[1] & 0x40)
        if pid == 0 and unit_start and pmt_pid is None:
            pmt_pid = _pmt_pid(_section(_payload(packet)))
        elif pid == pmt_pid and unit_start and video_pid is None:
            video_pid = _h264_pid(_section(_payload(packet)))
        elif pid == video_pid and pid is not None:
            payload = _payload(packet)
            if unit_start:
                started = True
                payload = _strip_pes_header(payload)
            if started:
                elementary += payload
                if len(elementary) >= limit:
                    break
    if not elementary:
        raise CodecParseError("no H.264 stream in the transport stream")
    return bytes(elementary)


def avc_from_transport_stream(data: bytes) -> AvcParameters:
    return avc_from_annexb(h264_from_transport_stream(data))
