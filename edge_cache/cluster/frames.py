"""The control channel's wire format (pure): length-prefixed frames of one kind each.

A frame is `!IB` (payload length, kind) then the payload. MESSAGE payloads are pickled
tuples (the channel links processes of one edge, started by the same parent, over a unix
socket in a 0700 directory: nothing else can write to it). REPLICA payloads carry a stored
response (`edge_cache.cluster.replicas`): `!I` description length, the pickled
description, the body bytes as they are, and one byte: 1 when the frame is whole. The
supervisor relays a replica piece by piece as it arrives; if its sender dies halfway it
pads the frame and ends it with 0, and the receivers drop it. Readers get a replica as
pieces, the body read into its own bytes object (no copy beyond reading it).

This module imports nothing heavy: the supervisor uses it.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

HEADER = struct.Struct("!IB")
META_LENGTH = struct.Struct("!I")
MESSAGE = 1
REPLICA = 2
WHOLE = b"\x01"
BROKEN = b"\x00"
MAX_FRAME = 2**31
"""Refuse anything larger: a stored response is bounded by the cache's object limit."""


class FrameError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def message(*fields: Any) -> bytes:
    payload = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload), MESSAGE) + payload


def replica_pieces(meta: bytes, body: bytes) -> list[bytes]:
    length = META_LENGTH.size + len(meta) + len(body) + len(WHOLE)
    return [HEADER.pack(length, REPLICA) + META_LENGTH.pack(len(meta)), meta, body, WHOLE]


def read_message(payload: bytes) -> tuple[Any, ...]:
    fields = pickle.loads(payload)
    if not isinstance(fields, tuple) or not fields or not isinstance(fields[0], str):
        raise FrameError("a message that is not a (name, ...) tuple")
    return fields


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, list[bytes]]:
    """(MESSAGE, [payload]) or (REPLICA, [header, meta, body, WHOLE or BROKEN]) for the
    next frame; IncompleteReadError at the end of the stream."""
    header = await reader.readexactly(HEADER.size)
    length, kind = HEADER.unpack(header)
    if kind not in (MESSAGE, REPLICA) or length > MAX_FRAME:
        raise FrameError(f"bad frame header: kind {kind}, length {length}")
    if kind == MESSAGE:
        return kind, [await reader.readexactly(length)]
    meta_header = await reader.readexactly(META_LENGTH.size)
    (meta_length,) = META_LENGTH.unpack(meta_header)
    if meta_length > length - META_LENGTH.size - len(WHOLE):
        raise FrameError("a replica whose description is longer than the frame")
    meta = await reader.readexactly(meta_length)
    body = await reader.readexactly(length - META_LENGTH.size - meta_length - len(WHOLE))
    return kind, [header + meta_header, meta, body, await reader.readexactly(len(WHOLE))]
