from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from callcenter.errors import NotFoundError, StoreError
from callcenter.model.records import CallRecord, Direction, HangupBy, Outcome
from callcenter.store import CallLog, CallLogWriter, CallQuery, Database
from callcenter.store.calllog import time_key

T0 = 1714550400.0  # 2024-05-01T08:00:00Z


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    await database.close()


@pytest.fixture
def log(db: Database) -> CallLog:
    return CallLog(db)


def count_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as raw:
        return int(raw.execute("SELECT COUNT(*) FROM call_log").fetchone()[0])


async def test_add_round_trips_the_public_shape(log: CallLog, make_call: Any) -> None:
    record = make_call("c1")
    assert await log.add(record) is True
    stored = await log.get("c1")
    assert stored == record.to_dict()
    assert list(stored) == list(record.to_dict())


async def test_nulls_and_empty_lists_round_trip(log: CallLog, make_call: Any) -> None:
    record = make_call(
        "c-null",
        queue=None,
        agents_offered=(),
        agent=None,
        answered_at=None,
        talk_s=0.0,
        outcome=Outcome.ABANDONED,
        hangup_by=None,
        transfers=(),
        recording=None,
    )
    await log.add(record)
    assert await log.get("c-null") == record.to_dict()


async def test_get_unknown_call_is_not_found(log: CallLog) -> None:
    with pytest.raises(NotFoundError):
        await log.get("nope")


async def test_add_twice_keeps_the_first_record(
    log: CallLog, db_path: Path, make_call: Any
) -> None:
    first = make_call("c1")
    assert await log.add(first) is True
    assert await log.add(make_call("c1", caller_name="Someone else")) is False
    assert count_rows(db_path) == 1
    assert (await log.get("c1"))["caller_name"] == first.caller_name


async def test_no_duplicate_across_a_restart(db_path: Path, make_call: Any) -> None:
    db = await Database.open(db_path)
    await CallLog(db).add(make_call("c1"))
    await db.close()
    db = await Database.open(db_path)
    try:
        assert await CallLog(db).add(make_call("c1")) is False
        assert await CallLog(db).add_many([make_call("c1"), make_call("c2")]) == 1
    finally:
        await db.close()
    assert count_rows(db_path) == 2


async def test_add_many_counts_new_rows_and_ignores_duplicates(
    log: CallLog, db_path: Path, make_call: Any
) -> None:
    await log.add(make_call("c0"))
    batch = [make_call(f"c{i}", started_at=T0 + i) for i in range(300)]
    batch.append(make_call("c5"))  # duplicate inside the batch
    assert await log.add_many(batch) == 299
    assert count_rows(db_path) == 300
    assert await log.add_many([]) == 0


async def test_add_many_is_all_or_nothing(log: CallLog, db_path: Path, make_call: Any) -> None:
    bad = make_call("bad", outcome=Outcome.ANSWERED)
    object.__setattr__(bad, "outcome", _FakeOutcome())  # violates the CHECK constraint
    with pytest.raises(StoreError):
        await log.add_many([make_call("ok1"), bad, make_call("ok2")])
    assert count_rows(db_path) == 0
    assert await log.add(make_call("ok1")) is True  # the connection is usable afterwards


class _FakeOutcome:
    value = "exploded"


# --- queries -------------------------------------------------------------------------------


@pytest.fixture
async def sample(log: CallLog, make_call: Any) -> list[CallRecord]:
    records = [
        make_call("a1", started_at=T0),
        make_call(
            "a2",
            started_at=T0 + 3600,
            queue="sales",
            agent="PJSIP/2001",
            caller_number="+4940111",
        ),
        make_call(
            "a3",
            started_at=T0 + 7200,
            outcome=Outcome.ABANDONED,
            agent=None,
            answered_at=None,
            hangup_by=HangupBy.CALLER,
        ),
        make_call(
            "a4",
            started_at=T0 + 86400,
            direction=Direction.OUTBOUND,
            queue=None,
            caller_number="2001",
            called_number="+4940111",
            agent="PJSIP/2001",
            outcome=Outcome.BUSY,
        ),
        make_call("a5", started_at=T0 + 86400, direction=Direction.INTERNAL, queue=None),
    ]
    await log.add_many(records)
    return records


async def ids(log: CallLog, **filters: Any) -> list[str]:
    page = await log.query(CallQuery(**filters))
    assert page.total == len(page.items)
    return [item["call_id"] for item in page.items]


async def test_default_order_is_newest_first_then_call_id(
    log: CallLog, sample: list[CallRecord]
) -> None:
    assert await ids(log) == ["a4", "a5", "a3", "a2", "a1"]


async def test_time_range_from_inclusive_to_exclusive(
    log: CallLog, sample: list[CallRecord]
) -> None:
    start = datetime.fromtimestamp(T0 + 3600, UTC)
    end = datetime.fromtimestamp(T0 + 86400, UTC)
    assert await ids(log, started_from=start) == ["a4", "a5", "a3", "a2"]
    assert await ids(log, started_to=end) == ["a3", "a2", "a1"]
    assert await ids(log, started_from=start, started_to=end) == ["a3", "a2"]


async def test_time_filters_accept_offsets_and_naive_utc(
    log: CallLog, sample: list[CallRecord]
) -> None:
    berlin = timezone(timedelta(hours=2))
    # 10:00+02:00 == 08:00Z == a1
    assert await ids(log, started_to=datetime(2024, 5, 1, 10, 0, 1, tzinfo=berlin)) == ["a1"]
    assert await ids(log, started_to=datetime(2024, 5, 1, 8, 0, 1)) == ["a1"]
    # A fractional bound: 08:00:00.5 excludes a1 as a lower bound, includes it as an upper one.
    half = datetime(2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC)
    assert "a1" not in await ids(log, started_from=half)
    assert await ids(log, started_to=half) == ["a1"]


async def test_number_matches_caller_or_called(log: CallLog, sample: list[CallRecord]) -> None:
    assert await ids(log, number="+4940111") == ["a4", "a2"]
    assert await ids(log, number="+49") == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"agent": "PJSIP/2001"}, ["a4", "a2"]),
        ({"queue": "sales"}, ["a2"]),
        ({"queue": "support"}, ["a3", "a1"]),
        ({"outcome": Outcome.ABANDONED}, ["a3"]),
        ({"outcome": Outcome.BUSY}, ["a4"]),
        ({"direction": Direction.OUTBOUND}, ["a4"]),
        ({"direction": Direction.INTERNAL}, ["a5"]),
        ({"direction": Direction.INBOUND, "agent": "PJSIP/2002"}, ["a1"]),
        ({"outcome": Outcome.CONGESTION}, []),
    ],
)
async def test_filters(
    log: CallLog, sample: list[CallRecord], filters: dict[str, Any], expected: list[str]
) -> None:
    assert await ids(log, **filters) == expected


async def test_pagination_walks_every_row_once_in_order(log: CallLog, make_call: Any) -> None:
    # Many calls share a start second, so the call_id tiebreak matters.
    records = [make_call(f"p{i:03d}", started_at=T0 + (i // 4)) for i in range(101)]
    await log.add_many(records)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await log.query(CallQuery(limit=10, after=after, queue="support"))
        assert page.total == 101
        seen += [item["call_id"] for item in page.items]
        pages += 1
        if page.next_key is None:
            break
        after = page.next_key
    assert pages == 11
    expected = sorted(records, key=lambda r: (-r.started_at, r.call_id))
    assert seen == [r.call_id for r in expected]


async def test_exact_last_page_has_no_next_key(log: CallLog, make_call: Any) -> None:
    await log.add_many([make_call(f"e{i}", started_at=T0 + i) for i in range(4)])
    first = await log.query(CallQuery(limit=2))
    assert first.next_key is not None
    second = await log.query(CallQuery(limit=2, after=first.next_key))
    assert [i["call_id"] for i in second.items] == ["e1", "e0"]
    assert second.next_key is None


def test_limit_bounds() -> None:
    CallQuery(limit=500)
    with pytest.raises(ValueError, match="limit"):
        CallQuery(limit=501)
    with pytest.raises(ValueError, match="limit"):
        CallQuery(limit=0)


def test_time_key_format() -> None:
    assert time_key(datetime(2024, 5, 1, 8, 0, tzinfo=UTC)) == "2024-05-01T08:00:00Z"
    assert time_key(datetime(2024, 5, 1, 8, 0, 0, 1)) == "2024-05-01T08:00:01Z"


# --- the batching writer -------------------------------------------------------------------


async def test_writer_batches_a_burst_and_writes_all(
    log: CallLog, db_path: Path, make_call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    original = log.add_many

    async def spy(records: list[CallRecord]) -> int:
        batches.append(len(records))
        return await original(records)

    monkeypatch.setattr(log, "add_many", spy)
    writer = CallLogWriter(log, max_batch=100)
    task = asyncio.create_task(writer.run(), name="writer")
    for i in range(300):
        writer.submit(make_call(f"w{i}", started_at=T0 + i))
    await writer.flush()
    assert count_rows(db_path) == 300
    assert writer.backlog == 0
    assert sum(batches) == 300
    assert len(batches) <= 4  # 100 + 100 + 100, not 300 commits
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_writer_writes_what_is_pending_when_cancelled(
    log: CallLog, db_path: Path, make_call: Any
) -> None:
    writer = CallLogWriter(log)
    task = asyncio.create_task(writer.run(), name="writer")
    await asyncio.sleep(0)
    for i in range(50):
        writer.submit(make_call(f"x{i}"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert count_rows(db_path) == 50


async def test_writer_retries_a_failed_batch(
    log: CallLog, db_path: Path, make_call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = log.add_many
    failures = [StoreError("disk full")]

    async def flaky(records: list[CallRecord]) -> int:
        if failures:
            raise failures.pop()
        return await original(records)

    monkeypatch.setattr(log, "add_many", flaky)
    writer = CallLogWriter(log, retry_delay_s=0.01)
    task = asyncio.create_task(writer.run(), name="writer")
    writer.submit(make_call("r1"))
    await asyncio.wait_for(writer.flush(), 5)
    assert count_rows(db_path) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
