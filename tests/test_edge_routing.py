"""Edge selection (rendezvous hashing), load-balancing policies, the breaker, playlists."""

from __future__ import annotations

from collections import Counter

import pytest

from edge_cache.balancer import Balancer, Target
from edge_cache.breaker import Breaker, State
from edge_cache.playlists import warm_targets
from edge_cache.router import pick_edge, rank_edges
from edge_cache.upstreams import parse_upstream

KEYS = [f"/v/video{n}/720p/{n % 97}.m4s" for n in range(10_000)]


def test_adding_an_edge_moves_about_one_in_n_plus_one_keys() -> None:
    edges = [f"http://edge{n}:8080" for n in range(4)]
    before = {key: pick_edge(key, edges) for key in KEYS}
    grown = [*edges, "http://edge4:8080"]
    after = {key: pick_edge(key, grown) for key in KEYS}
    moved = [key for key in KEYS if before[key] != after[key]]
    assert all(after[key] == "http://edge4:8080" for key in moved)  # only to the new edge
    assert len(moved) / len(KEYS) == pytest.approx(1 / 5, abs=0.02)


def test_keys_spread_evenly_and_ranking_starts_with_the_owner() -> None:
    edges = ["a", "b", "c"]
    counts = Counter(pick_edge(key, edges) for key in KEYS)
    assert all(abs(count - len(KEYS) / 3) < len(KEYS) * 0.03 for count in counts.values())
    assert rank_edges(KEYS[0], edges)[0] == pick_edge(KEYS[0], edges)
    with pytest.raises(ValueError):
        pick_edge("/x", [])


def test_least_connections_prefers_idle_upstreams() -> None:
    busy, idle = Target("busy", active=5), Target("idle", active=1)
    balancer = Balancer("least-connections")
    assert all(balancer.choose([busy, idle]) is idle for _ in range(10))
    heavy = Target("heavy", weight=10, active=5)
    assert balancer.choose([heavy, idle]) is heavy  # 5/10 < 1/1


def test_round_robin_and_weighted_spread() -> None:
    a, b = Target("a"), Target("b", weight=3)
    rr = Balancer("round-robin")
    assert Counter(rr.choose([a, b]).name for _ in range(100)) == {"a": 50, "b": 50}
    weighted = Balancer("weighted")
    assert Counter(weighted.choose([a, b]).name for _ in range(100)) == {"a": 25, "b": 75}
    with pytest.raises(ValueError):
        Balancer("random")


def test_breaker_opens_after_threshold_and_closes_after_a_good_probe() -> None:
    breaker = Breaker(threshold=3, cooldown=10)
    for _ in range(3):
        assert breaker.acquire(0)
        breaker.failure(0)
    assert breaker.state is State.OPEN and not breaker.acquire(5)
    assert breaker.retry_after(5) == 5
    assert breaker.acquire(10) and breaker.state is State.HALF_OPEN
    assert not breaker.acquire(10)  # one probe at a time
    breaker.failure(10)
    assert breaker.state is State.OPEN
    assert breaker.acquire(20)
    breaker.success()
    assert breaker.state is State.CLOSED and breaker.failures == 0


def test_upstream_urls_with_weights() -> None:
    url, weight = parse_upstream("http://origin:8080#weight=3")
    assert str(url) == "http://origin:8080" and weight == 3
    for bad in ("ftp://x", "origin:8080", "http://o#w=1", "http://o#weight=0"):
        with pytest.raises(ValueError):
            parse_upstream(bad)


MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720
720p/index.m3u8
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/index.m3u8"
"""
MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.0,
0.m4s
#EXTINF:4.0,
1.m4s
#EXTINF:4.0,
2.m4s
#EXT-X-ENDLIST
"""


def test_warm_targets_from_master_and_media_playlists() -> None:
    assert warm_targets("/v/a/master.m3u8", MASTER, 2) == [
        "/v/a/360p/index.m3u8", "/v/a/720p/index.m3u8", "/v/a/audio/index.m3u8",
    ]
    assert warm_targets("/v/a/720p/index.m3u8", MEDIA, 2) == [
        "/v/a/720p/init.mp4", "/v/a/720p/0.m4s", "/v/a/720p/1.m4s",
    ]
    assert warm_targets("/v/a/x.m3u8", "#EXTM3U\nhttp://elsewhere/a.ts\n", 5) == []
