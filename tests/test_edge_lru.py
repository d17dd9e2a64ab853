"""The byte-bounded LRU and the response store built on it (no servers)."""

from __future__ import annotations

import pytest

from edge_cache.fields import format_http_date
from edge_cache.lru import ByteLRU
from edge_cache.rules import analyse_response
from edge_cache.store import ENTRY_OVERHEAD, Entry, ResponseStore

NOW = 1_800_000_000.0


def test_bound_is_in_bytes_and_least_recently_used_go_first() -> None:
    evicted: list[str] = []
    lru: ByteLRU[str, str] = ByteLRU(100, on_evict=lambda key, value: evicted.append(key))
    lru.put("a", "A", 40)
    lru.put("b", "B", 40)
    assert lru.get("a") == "A"  # a is now more recent than b
    lru.put("c", "C", 40)
    assert evicted == ["b"]
    assert list(lru.keys()) == ["a", "c"]
    assert lru.total == 80 <= lru.capacity


def test_one_big_value_evicts_several_small_ones() -> None:
    lru: ByteLRU[int, int] = ByteLRU(100)
    for key in range(10):
        lru.put(key, key, 10)
    lru.put(99, 99, 55)
    assert lru.total <= 100
    assert 99 in lru and 0 not in lru and 9 in lru


def test_oversize_values_are_refused_and_nothing_is_evicted_for_them() -> None:
    lru: ByteLRU[str, str] = ByteLRU(100, max_item=30)
    lru.put("small", "s", 20)
    assert lru.put("big", "b", 31) is False
    assert "big" not in lru and "small" in lru and lru.total == 20


def test_replacing_a_key_reaccounts_its_size() -> None:
    lru: ByteLRU[str, str] = ByteLRU(100)
    lru.put("a", "1", 60)
    lru.put("a", "2", 10)
    assert lru.total == 10 and lru.get("a") == "2"
    assert lru.pop("a") == "2" and lru.total == 0


def test_peek_does_not_refresh_recency() -> None:
    lru: ByteLRU[str, str] = ByteLRU(20)
    lru.put("a", "A", 10)
    lru.put("b", "B", 10)
    lru.peek("a")
    lru.put("c", "C", 10)
    assert "a" not in lru


def entry(key: str, body: bytes, vary: str | None = None, selecting: tuple = ()) -> Entry:
    lines = {"cache-control": ["max-age=60"], "date": [format_http_date(NOW)]}
    if vary:
        lines["vary"] = [vary]
    facts = analyse_response(200, lines, request_time=NOW, response_time=NOW)
    return Entry(key=key, selecting=selecting, status=200, reason="OK",
                 headers=(("Cache-Control", "max-age=60"),), body=body, facts=facts)


def test_store_accounts_header_overhead_and_stays_bounded() -> None:
    store = ResponseStore(capacity=10_000, max_object=2_000)
    first = entry("/a", b"x" * 100)
    assert first.size > 100 + ENTRY_OVERHEAD
    for index in range(100):
        store.put(entry(f"/k{index}", b"y" * 900))
    assert store.total_bytes <= 10_000
    assert store.evictions > 0
    assert store.select("/k99", lambda name: []) is not None
    assert store.select("/k0", lambda name: []) is None


def test_store_refuses_objects_over_the_limit() -> None:
    store = ResponseStore(capacity=10_000, max_object=1_000)
    assert store.put(entry("/big", b"z" * 1_000)) is False
    assert len(store) == 0


def test_variants_are_selected_by_their_request_fields() -> None:
    store = ResponseStore(capacity=100_000, max_object=10_000)
    gzip = entry("/v", b"gz", vary="Accept-Encoding", selecting=(("accept-encoding", "gzip"),))
    plain = entry("/v", b"id", vary="Accept-Encoding", selecting=(("accept-encoding", None),))
    store.put(gzip)
    store.put(plain)
    assert len(store) == 2
    found = store.select("/v", lambda name: ["gzip"] if name == "accept-encoding" else [])
    assert found is gzip
    assert store.select("/v", lambda name: []) is plain
    assert store.select("/v", lambda name: ["br"] if name == "accept-encoding" else []) is None
    assert store.remove_key("/v") == 2 and len(store) == 0


def test_purge_by_prefix() -> None:
    store = ResponseStore(capacity=100_000, max_object=10_000)
    for key in ("/v/a/master.m3u8", "/v/a/720p/1.m4s", "/v/ab/master.m3u8", "/v/b/x"):
        store.put(entry(key, b"."))
    assert store.purge_prefix("/v/a/") == 2
    assert store.select("/v/ab/master.m3u8", lambda name: []) is not None
    assert store.total_bytes == sum(
        e.size for e in (entry("/v/ab/master.m3u8", b"."), entry("/v/b/x", b"."))
    )


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError):
        ByteLRU(capacity)
