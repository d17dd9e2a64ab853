"""The control channel's wire format (pure): length-prefixed frames of one kind each.

A frame is `!IB` (payload length, kind) then the payload. MESSAGE payloads are pickled
tuples (the channel links processes of one edge, started by the same parent, over a unix
socket in a 0700 directory: nothing else can write to it). REPLICA payloads carry a stored
response: a pickled description, then the body bytes as they are, so that the supervisor
relays them without decoding and nobody copies the body more than reading it takes.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

from edge_cache.rules import ResponseFacts
from edge_cache.store import Entry

HEADER = struct.Struct("!IB")
META_LENGTH = struct.Struct("!I")
MESSAGE = 1
REPLICA = 2
MAX_FRAME = 2**31
"""Refuse anything larger: a stored response is bounded by the cache's object limit."""


class FrameError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def message(*fields: Any) -> bytes:
    payload = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload), MESSAGE) + payload


def replica(base: int, entry: Entry) -> list[bytes]:
    """The frame pieces of a stored response; `base` is the last purge the sender had
    applied when it stored it (`edge_cache.cluster.purges`)."""
    meta = pickle.dumps(
        (base, entry.key, entry.selecting, entry.status, entry.reason, entry.headers,
         entry.facts),
        protocol=pickle.HIGHEST_PROTOCOL,
    )  # fmt: skip
    length = META_LENGTH.size + len(meta) + len(entry.body)
    return [HEADER.pack(length, REPLICA) + META_LENGTH.pack(len(meta)), meta, entry.body]


def read_replica(payload: bytes) -> tuple[int, Entry]:
    (meta_length,) = META_LENGTH.unpack_from(payload)
    start = META_LENGTH.size
    base, key, selecting, status, reason, headers, facts = pickle.loads(
        payload[start:start + meta_length]
    )
    if not isinstance(facts, ResponseFacts):
        raise FrameError("a replica without response facts")
    body = payload[start + meta_length:]
    entry = Entry(
        key=key, selecting=selecting, status=status, reason=reason, headers=headers,
        body=body, facts=facts,
    )  # fmt: skip
    return base, entry


def read_message(payload: bytes) -> tuple[Any, ...]:
    fields = pickle.loads(payload)
    if not isinstance(fields, tuple) or not fields or not isinstance(fields[0], str):
        raise FrameError("a message that is not a (name, ...) tuple")
    return fields


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """(kind, header bytes, payload) of the next frame; IncompleteReadError at the end."""
    header = await reader.readexactly(HEADER.size)
    length, kind = HEADER.unpack(header)
    if kind not in (MESSAGE, REPLICA) or length > MAX_FRAME:
        raise FrameError(f"bad frame header: kind {kind}, length {length}")
    return kind, header, await reader.readexactly(length)
