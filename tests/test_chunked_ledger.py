"""The part ledger contract, run unchanged on SQLite and on a real Redis, with several
ledgers on one backend standing for several worker processes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from transcoder.chunked.ledger import DONE, PartLedger, open_ledger
from transcoder.chunked.ledger_redis import RedisPartLedger
from transcoder.chunked.ledger_sqlite import SqlitePartLedger
from vodstack.settings import Settings

LedgerFactory = Callable[[], Awaitable[PartLedger]]
PARTS = ("v0", "v1", "v2", "audio")


@pytest.fixture(params=["sqlite", "redis"])
async def make_ledger(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[LedgerFactory]:
    opened: list[PartLedger] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings = Settings(queue=url, redis_timeout=3.0)
    else:
        settings = Settings(queue=f"sqlite://{tmp_path / 'vodstack.db'}")

    async def make() -> PartLedger:
        ledger = open_ledger(settings)
        await ledger.start()
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        await ledger.close()


async def test_progress_and_done_parts_are_shared(make_ledger: LedgerFactory) -> None:
    one, two = await make_ledger(), await make_ledger()
    assert isinstance(one, SqlitePartLedger | RedisPartLedger)
    state = await one.report("vid", "v1", "v0", 40.0)
    assert state.progress == {"v0": 40.0} and state.done == frozenset()
    state = await two.report("vid", "v1", "v1", 10.0)
    assert state.progress == {"v0": 40.0, "v1": 10.0}
    state = await two.mark_done("vid", "v1", "v1")
    assert state.progress == {"v0": 40.0, "v1": DONE} and state.done == {"v1"}
    state = await one.report("vid", "v1", "v1", 5.0)  # a late report of a done part
    assert state.progress["v1"] == DONE
    assert not state.complete(PARTS)
    # Another version of the same video, or another video, is another ledger entry.
    assert (await one.state("vid", "v2")).progress == {}
    assert (await one.state("other", "v1")).progress == {}


async def test_the_part_that_completes_the_set_sees_it_complete(
    make_ledger: LedgerFactory,
) -> None:
    """Parts finishing at the same moment in different processes: at least one of them
    (on Redis exactly one) reads the set complete, so the join is always queued."""
    ledgers = [await make_ledger() for _ in PARTS]
    for round_number in range(5):
        version = f"v{round_number}"
        states = await asyncio.gather(
            *(ledger.mark_done("vid", version, part)
              for ledger, part in zip(ledgers, PARTS, strict=True))
        )  # fmt: skip
        complete = [state.complete(PARTS) for state in states]
        assert any(complete), states
        if isinstance(ledgers[0], RedisPartLedger):
            assert sum(complete) == 1
        # A part delivered again reads the set complete too.
        assert (await ledgers[0].mark_done("vid", version, PARTS[0])).complete(PARTS)


async def test_one_join_job_owns_the_join_and_keeps_it_when_it_runs_again(
    make_ledger: LedgerFactory,
) -> None:
    one, two = await make_ledger(), await make_ledger()
    results = await asyncio.gather(
        one.claim_join("vid", "v1", "join-a"), two.claim_join("vid", "v1", "join-b")
    )
    assert sorted(results) == [False, True]
    owner = "join-a" if results[0] else "join-b"
    assert await one.claim_join("vid", "v1", owner)
    assert not await two.claim_join("vid", "v1", "join-c")
    assert await two.claim_join("vid", "v2", "join-c")


async def test_sqlite_entries_older_than_a_week_are_swept_at_start(tmp_path: Path) -> None:
    settings = Settings(queue=f"sqlite://{tmp_path / 'vodstack.db'}")
    ledger = open_ledger(settings)
    assert isinstance(ledger, SqlitePartLedger)
    await ledger.start()
    try:
        await ledger.mark_done("vid", "v1", "v0")
        await ledger.claim_join("vid", "v1", "join")
        await ledger.db.execute("UPDATE chunk_parts SET updated_at = updated_at - 8 * 86400")
        await ledger.db.execute("UPDATE chunk_joins SET updated_at = updated_at - 8 * 86400")
        await ledger.mark_done("vid", "v2", "v0")
    finally:
        await ledger.close()
    again = open_ledger(dataclasses.replace(settings))
    await again.start()
    try:
        assert (await again.state("vid", "v1")).done == frozenset()
        assert (await again.state("vid", "v2")).done == {"v0"}
        assert await again.claim_join("vid", "v1", "another")
    finally:
        await again.close()
