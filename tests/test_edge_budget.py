"""How a multi-process edge splits cache_size: the extra runtimes come out of the cache."""

from __future__ import annotations

from edge_cache.cluster.budget import resident_bytes, worker_share

MiB = 1024 * 1024


def test_the_supervisor_and_every_worker_but_one_are_paid_for() -> None:
    share = worker_share(256 * MiB, 2, supervisor_rss=24 * MiB, worker_rss=42 * MiB)
    assert share.runtimes == 66 * MiB
    assert share.bytes == (256 - 66) * MiB // 2 and not share.squeezed


def test_the_runtimes_grow_with_the_process_count() -> None:
    shares = [worker_share(2048 * MiB, n, 24 * MiB, 42 * MiB) for n in (2, 4, 8)]
    assert [s.runtimes for s in shares] == [66 * MiB, 150 * MiB, 318 * MiB]
    totals = [s.bytes * n for s, n in zip(shares, (2, 4, 8), strict=True)]
    assert totals == sorted(totals, reverse=True)
    assert all(total + s.runtimes <= 2048 * MiB for total, s in zip(totals, shares, strict=True))


def test_a_cache_too_small_for_the_runtimes_still_caches_a_quarter() -> None:
    share = worker_share(64 * MiB, 2, 24 * MiB, 42 * MiB)
    assert share.squeezed and share.bytes == 64 * MiB // 8


def test_unknown_runtimes_take_nothing() -> None:
    assert worker_share(100 * MiB, 2, 0, 0).bytes == 50 * MiB
    assert worker_share(100 * MiB, 2, -1, -1).bytes == 50 * MiB


def test_resident_bytes_reads_this_process() -> None:
    before = resident_bytes()
    block = b"\x01" * (64 * MiB)  # every page written
    assert resident_bytes() >= before + 60 * MiB
    del block
