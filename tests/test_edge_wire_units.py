"""Pure parts of the hit path and of the multi-process edge: reading request heads
(`edge_cache.wire`), ordering purges against copied responses (`edge_cache.cluster.purges`),
the control channel's frames, and adding up stats and metrics of several processes."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from edge_cache.admin import merge_stats
from edge_cache.cluster import frames, replicas
from edge_cache.cluster.purges import PurgeLog
from edge_cache.rules import analyse_response
from edge_cache.store import Entry
from edge_cache.wire import HANDOVER, OtherRequest, RequestHead, StoredWire, read_head, status_line
from vodstack.metrics.merge import merge_families

# -- reading request heads (RFC 9112 §2-§9) ------------------------------------------------


def test_a_plain_get_is_read_with_its_fields() -> None:
    data = b"GET /v/x.m3u8?a=1 HTTP/1.1\r\nHost: e\r\nAccept: a\r\naccept: b\r\n\r\nGET /n"
    head = read_head(data)
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.minor, head.keep_alive) == (
        b"GET", b"/v/x.m3u8?a=1", 1, True
    )
    assert head.get_all("Accept") == ["a", "b"] and head.end == data.index(b"GET /n")
    assert read_head(data, head.end) is None  # the next request is not complete yet


@pytest.mark.parametrize(("connection", "minor", "keep"), [
    (None, 1, True), (None, 0, False), (b"close", 1, False), (b"keep-alive", 0, True),
    (b"Keep-Alive, close", 0, False), (b"KEEP-ALIVE", 1, True),
])  # fmt: skip
def test_keep_alive_follows_version_and_connection(
    connection: bytes | None, minor: int, keep: bool
) -> None:
    data = b"GET / HTTP/1.%d\r\nHost: e\r\n" % minor
    if connection is not None:
        data += b"Connection: " + connection + b"\r\n"
    head = read_head(data + b"\r\n")
    assert isinstance(head, RequestHead) and head.keep_alive is keep


@pytest.mark.parametrize("data", [
    b"POST /x HTTP/1.1\r\nHost: e\r\n\r\n",
    b"DELETE /_edge/cache?prefix=/ HTTP/1.1\r\nHost: e\r\nContent-Length: 0\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: e\r\nRange: bytes=0-1\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: e\r\nIf-None-Match: \"a\"\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: e\r\nCache-Control: no-cache\r\n\r\n",
    b"HEAD /x HTTP/1.1\r\nHost: e\r\nAuthorization: Basic eA==\r\n\r\n",
])  # fmt: skip
def test_other_bodiless_requests_end_where_their_head_ends(data: bytes) -> None:
    head = read_head(data + b"GET")
    assert isinstance(head, OtherRequest) and head.end == len(data)


@pytest.mark.parametrize("data", [
    b"POST /x HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /x HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: e\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: e\r\nExpect: 100-continue\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: e\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"GET /x HTTP/1.1\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost : a\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\x00\r\n\r\n",
    b"GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x y HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n",
    b"GET /x HTTP/1.1\nHost: a\r\n\r\n",
    b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
])  # fmt: skip
def test_anything_unusual_is_handed_to_aiohttp(data: bytes) -> None:
    assert read_head(data) is HANDOVER


def test_an_endless_head_is_handed_over_past_the_limit() -> None:
    assert read_head(b"GET / HTTP/1.1\r\nX: " + b"a" * 1000) is None
    assert read_head(b"GET / HTTP/1.1\r\nX: " + b"a" * 900_000) is HANDOVER


def test_stored_fields_are_written_as_aiohttp_writes_them() -> None:
    headers = (("Content-Type", "text/plain"), ("ETag", '"e"'), ("X-Request-Id", "stored"))
    wire = StoredWire(200, "OK", headers, 5)
    assert wire.heads[1, True] == b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: "e"\r\n'
    assert wire.tail.startswith(b"X-Cache: HIT\r\nContent-Length: 5\r\nServer: ")
    untyped = StoredWire(404, "", (("ETag", '"e"'),), 5)
    assert untyped.heads[0, True].startswith(b"HTTP/1.0 404 Not Found\r\n")
    assert untyped.heads[1, True].endswith(b"Content-Type: application/octet-stream\r\n")
    assert b"Content-Type" not in untyped.heads[1, False]  # HEAD: none added (as aiohttp)
    assert status_line(1, 200, "") == b"HTTP/1.1 200 OK\r\n"
    assert status_line(0, 404, "Gone Fishing") == b"HTTP/1.0 404 Gone Fishing\r\n"


# -- purges and copies across processes ----------------------------------------------------


def test_a_copy_older_than_a_purge_of_its_url_is_refused() -> None:
    log = PurgeLog(seen=10)
    log.numbered(11, "/v/a/", True, mine=False)
    assert not log.admits("/v/a/1.ts", base=10)  # stored before purge 11
    assert log.admits("/v/a/1.ts", base=11)  # stored after it
    assert log.admits("/v/b/1.ts", base=10)  # purge 11 named something else
    assert not log.admits("/v/b/1.ts", base=5)  # purges 6-10 are not known here


def test_a_purge_not_numbered_yet_refuses_copies_of_its_url() -> None:
    log = PurgeLog()
    log.asked("/v/a/x", False)
    assert not log.admits("/v/a/x", base=100)
    log.numbered(1, "/v/a/x", False, mine=True)
    assert log.admits("/v/a/x", base=1) and not log.admits("/v/a/x", base=0)


def test_history_bounds_what_can_be_admitted() -> None:
    log = PurgeLog(history=3)
    for seq in range(1, 6):
        log.numbered(seq, f"/p{seq}", False, mine=False)
    assert log.admits("/x", base=2)  # purges 3-5 are known and name other URLs
    assert not log.admits("/x", base=1)  # purge 2 fell out of the history


def _entry(body: bytes = b"body") -> Entry:
    facts = analyse_response(
        200, {"cache-control": ["max-age=60"], "etag": ['"e"']},
        request_time=1000.0, response_time=1000.5,
    )  # fmt: skip
    return Entry(
        key="/v/a.m3u8", selecting=(), status=200, reason="OK",
        headers=(("ETag", '"e"'), ("Cache-Control", "max-age=60")), body=body, facts=facts,
    )  # fmt: skip


async def test_a_replica_frame_carries_the_whole_entry() -> None:
    entry = _entry(b"x" * 70_000)
    pieces = replicas.encode(7, entry)
    reader = asyncio.StreamReader()
    reader.feed_data(b"".join(pieces) + frames.message("ready"))
    reader.feed_eof()
    kind, (header, meta, body, whole) = await frames.read_frame(reader)
    assert kind == frames.REPLICA and [header, meta, body, whole] == pieces
    assert whole == frames.WHOLE
    base, copy = replicas.decode(meta, body)
    assert base == 7 and copy.body is body and copy.facts == entry.facts
    assert copy.headers == entry.headers and copy.size == entry.size
    assert await frames.read_frame(reader) == (frames.MESSAGE, [frames.message("ready")[5:]])
    message = frames.message("purge", 1, "/v/", True)
    assert frames.read_message(message[frames.HEADER.size:]) == ("purge", 1, "/v/", True)
    with pytest.raises(frames.FrameError):
        frames.read_message(pickle.dumps([1, 2]))


# -- adding up several processes -----------------------------------------------------------


def _families(hits: int, in_flight: float, start: float, healthy: float) -> list:  # type: ignore[type-arg]
    registry = CollectorRegistry()
    counter = Counter("edge_hits_total", "hits", ["cache"], registry=registry)
    counter.labels("hit").inc(hits)
    Gauge("in_flight", "now", registry=registry).set(in_flight)
    Gauge("process_start_time_seconds", "start", registry=registry).set(start)
    Gauge("vodstack_edge_upstream_healthy", "up", ["upstream"], registry=registry).labels(
        "u"
    ).set(healthy)
    Histogram("latency", "l", buckets=(1.0,), registry=registry).observe(0.5)
    return list(registry.collect())


def test_metrics_of_several_processes_add_up() -> None:
    merged = {f.name: f for f in merge_families([
        _families(3, 1, 100.0, 1.0), _families(4, 2, 90.0, 0.0),
    ])}  # fmt: skip
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in merged.values() for s in family.samples
    }
    assert values[("edge_hits_total", (("cache", "hit"),))] == 7
    assert values[("in_flight", ())] == 3
    assert values[("process_start_time_seconds", ())] == 90.0
    assert values[("vodstack_edge_upstream_healthy", (("upstream", "u"),))] == 0.0
    assert values[("latency_bucket", (("le", "1.0"),))] == 2
    assert values[("latency_count", ())] == 2


def test_stats_of_several_processes_add_up() -> None:
    def part(pid: int, entries: int, hits: int, healthy: bool, breaker: str) -> dict:  # type: ignore[type-arg]
        return {
            "cache": {"entries": entries, "bytes": 10 * entries, "capacity": 50,
                      "max_object": 5, "evictions": 1},
            "counters": {"hit": hits},
            "warming": 0,
            "upstreams": [{"url": "http://o", "weight": 1, "healthy": healthy,
                           "breaker": breaker, "active": 1, "requests": 3, "failures": 0}],
            "pid": pid,
        }  # fmt: skip

    merged = merge_stats([part(20, 2, 5, True, "closed"), part(10, 3, 1, False, "open")])
    assert merged["cache"] == {"entries": 5, "bytes": 50, "capacity": 100, "max_object": 5,
                               "evictions": 2}  # fmt: skip
    assert merged["counters"] == {"hit": 6} and merged["processes"] == 2
    (upstream,) = merged["upstreams"]
    assert upstream["healthy"] is False and upstream["breaker"] == "open"
    assert upstream["requests"] == 6
    assert [w["pid"] for w in merged["workers"]] == [10, 20]


def test_bytes_being_read_count_against_the_capacity() -> None:
    from edge_cache.lru import ByteLRU

    lru: ByteLRU[str, str] = ByteLRU(100)
    for key in "abcd":
        lru.put(key, key, 20)
    lru.reserve(50)  # a fill of 50 bytes starts: a and b make room
    assert list(lru.keys()) == ["c", "d"] and lru.total + lru.reserved == 90
    lru.release(50)
    assert lru.put("e", "e", 50) and list(lru.keys()) == ["c", "d", "e"]
    lru.reserve(500)  # more than the capacity: all but the most recent go
    assert list(lru.keys()) == ["e"]
    lru.release(500)
    assert lru.reserved == 0


async def test_a_copy_cut_off_by_its_dying_sender_reaches_the_others_as_broken() -> None:
    """The supervisor relays copies piece by piece; when the sender's channel ends halfway,
    the frame is completed with filler and marked broken, and messages queued meanwhile
    follow it intact."""
    import socket

    from edge_cache.cluster.supervisor import Supervisor
    from vodstack.settings import Settings

    supervisor = Supervisor(Settings(upstream=("http://o",)), 2)
    origin, target = supervisor.workers
    ours, theirs = socket.socketpair()
    _unused, target.writer = await asyncio.open_connection(sock=ours)
    target.ready = True
    receiving, _writer = await asyncio.open_connection(sock=theirs)

    pieces = replicas.encode(3, _entry(b"y" * 300_000))
    frame = b"".join(pieces)
    sender = asyncio.StreamReader()
    sender.feed_data(frame[frames.HEADER.size:150_000])  # then the sender dies
    sender.feed_eof()
    length, _kind = frames.HEADER.unpack(frame[: frames.HEADER.size])
    relaying = asyncio.create_task(
        supervisor._relay(origin, frame[: frames.HEADER.size], length, sender)
    )
    await asyncio.sleep(0)
    target.send(frames.message("purged", 1, "/v/", True, 0, None))  # waits for the copy
    with pytest.raises(asyncio.IncompleteReadError):
        await relaying
    kind, got = await frames.read_frame(receiving)
    assert kind == frames.REPLICA and got[3] == frames.BROKEN and got[1] == pieces[1]
    kind, (payload,) = await frames.read_frame(receiving)
    assert frames.read_message(payload) == ("purged", 1, "/v/", True, 0, None)
    target.writer.close()
