"""Stored responses as control-channel frames (copies from one worker to the others)."""

from __future__ import annotations

import pickle

from edge_cache.cluster.frames import FrameError, replica_pieces
from edge_cache.rules import ResponseFacts
from edge_cache.store import Entry


def encode(base: int, entry: Entry) -> list[bytes]:
    """The frame pieces of a stored response; `base` is the last purge the sender had
    applied when it stored it (`edge_cache.cluster.purges`)."""
    meta = pickle.dumps(
        (base, entry.key, entry.selecting, entry.status, entry.reason, entry.headers,
         entry.facts),
        protocol=pickle.HIGHEST_PROTOCOL,
    )  # fmt: skip
    return replica_pieces(meta, entry.body)


def decode(meta: bytes, body: bytes) -> tuple[int, Entry]:
    base, key, selecting, status, reason, headers, facts = pickle.loads(meta)
    if not isinstance(facts, ResponseFacts) or not isinstance(base, int):
        raise FrameError("a replica without response facts")
    entry = Entry(
        key=key, selecting=selecting, status=status, reason=reason, headers=headers,
        body=body, facts=facts,
    )  # fmt: skip
    return base, entry
