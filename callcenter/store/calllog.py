"""The automatic call log: persisting finished calls and reading them back, filtered and paged.

Invariant: a call is logged at most once, whatever happens upstream (a duplicated
``CallFinished`` after an AMI resync, the same capture replayed twice, a server restart).
``call_id`` is the primary key and inserts use ``ON CONFLICT (call_id) DO NOTHING``, so the
first record of a call wins and later ones are ignored without an error.

Rows come back as dicts in exactly the :meth:`CallRecord.to_dict` shape (the public JSON of
``GET /api/calls``). Pages are ordered by ``started_at`` descending, then ``call_id``; a page
hands back the key of its last row, from which the next page continues (keyset paging: stable
while new calls are being logged, and as fast for page 1000 as for page 1).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from callcenter.errors import NotFoundError
from callcenter.model.records import CallRecord, Direction, Outcome
from callcenter.store.batch import BatchWriter
from callcenter.store.database import Database

log = logging.getLogger(__name__)

MAX_PAGE = 500
DEFAULT_PAGE = 50

CALL_LOG_COLUMNS = (
    "call_id",
    "direction",
    "caller_number",
    "caller_name",
    "called_number",
    "queue",
    "agents_offered",
    "agent",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_s",
    "talk_s",
    "outcome",
    "hangup_by",
    "transfers",
    "recording",
    "dial_id",
    "recovered",
)
_COLUMNS = CALL_LOG_COLUMNS
_COLUMN_LIST = ", ".join(_COLUMNS)
_INSERT = (
    f"INSERT INTO call_log ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT (call_id) DO NOTHING"
)


def time_key(moment: datetime) -> str:
    """A timestamp as stored: ISO 8601 UTC, whole seconds, ``Z``. Naive means UTC.

    Stored times have whole seconds, so a bound with a fraction is rounded up: for an
    inclusive lower bound and an exclusive upper bound that selects exactly the same rows.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class PageKey:
    """Position after the last row of a page: its ``started_at`` (stored form) and call id."""

    started_at: str
    call_id: str


@dataclass(frozen=True, slots=True)
class CallQuery:
    """Filters for :meth:`CallLog.query`. All given filters must hold (AND).

    ``started_from`` is inclusive, ``started_to`` exclusive. ``number`` matches the caller or
    the called number exactly. ``agent`` is the interface that talked (e.g. ``PJSIP/2001``).
    """

    started_from: datetime | None = None
    started_to: datetime | None = None
    number: str | None = None
    agent: str | None = None
    queue: str | None = None
    outcome: Outcome | None = None
    direction: Direction | None = None
    limit: int = DEFAULT_PAGE
    after: PageKey | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1..{MAX_PAGE}, got {self.limit}")


@dataclass(frozen=True, slots=True)
class CallPage:
    items: list[dict[str, Any]]
    total: int
    """How many calls match the filters in all (not only after ``after``)."""
    next_key: PageKey | None
    """Where the next page starts, or None when this page is the last."""


def _row_values(record: CallRecord) -> tuple[Any, ...]:
    data = record.to_dict()
    data["agents_offered"] = json.dumps(data["agents_offered"], ensure_ascii=False)
    data["transfers"] = json.dumps(data["transfers"], ensure_ascii=False)
    return tuple(data[column] for column in _COLUMNS)


def _row_dict(row: Sequence[Any]) -> dict[str, Any]:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["agents_offered"] = json.loads(data["agents_offered"])
    data["transfers"] = json.loads(data["transfers"])
    data["recovered"] = bool(data["recovered"])
    return data


def select_calls(alias: str) -> str:
    """``SELECT`` of every call-log column of table alias ``alias``, for :func:`call_json`."""
    return "SELECT " + ", ".join(f"{alias}.{column}" for column in _COLUMNS)


def call_json(row: Sequence[Any]) -> dict[str, Any]:
    """A row selected with :func:`select_calls` in the :meth:`CallRecord.to_dict` shape."""
    return _row_dict(row)


CallLinker = Callable[[aiosqlite.Connection, Sequence[str]], Awaitable[int]]
"""Called inside the insert transaction with the ids of the calls just written (see
``Customers.link_calls``), so a call and its customer link are committed together."""


def _where(query: CallQuery) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.started_from is not None:
        clauses.append("started_at >= ?")
        params.append(time_key(query.started_from))
    if query.started_to is not None:
        clauses.append("started_at < ?")
        params.append(time_key(query.started_to))
    if query.number is not None:
        clauses.append("(caller_number = ? OR called_number = ?)")
        params += [query.number, query.number]
    for column, value in (
        ("agent", query.agent),
        ("queue", query.queue),
        ("outcome", query.outcome.value if query.outcome else None),
        ("direction", query.direction.value if query.direction else None),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return clauses, params


class CallLog:
    """Repository of finished calls. With a ``linker``, every write also links the calls to
    their customers in the same transaction."""

    def __init__(self, db: Database, *, linker: CallLinker | None = None) -> None:
        self._db = db
        self._linker = linker

    async def add(self, record: CallRecord) -> bool:
        """Persist one call; False if a call with this id was already logged."""
        async with self._db.transaction() as conn:
            async with conn.execute(_INSERT, _row_values(record)) as cursor:
                added = cursor.rowcount == 1
            await self._link(conn, [record.call_id])
        return added

    async def add_many(self, records: Iterable[CallRecord]) -> int:
        """Persist a batch in one transaction (all or nothing); returns how many were new."""
        rows = [_row_values(record) for record in records]
        if not rows:
            return 0
        async with self._db.transaction() as conn:
            before = conn.total_changes
            await conn.executemany(_INSERT, rows)
            added = conn.total_changes - before
            await self._link(conn, [row[0] for row in rows])
        return added

    async def _link(self, conn: aiosqlite.Connection, call_ids: list[str]) -> None:
        """Run the linker in a savepoint: a failure there must never cost the calls themselves
        (the writer would retry the batch forever); they stay logged, unlinked."""
        if self._linker is None:
            return
        await conn.execute("SAVEPOINT link_calls")
        try:
            await self._linker(conn, call_ids)
        except Exception:
            log.exception("linking %d calls to customers failed; logged unlinked", len(call_ids))
            await conn.execute("ROLLBACK TO SAVEPOINT link_calls")
        await conn.execute("RELEASE SAVEPOINT link_calls")

    async def existing(self, call_ids: Sequence[str]) -> set[str]:
        """Which of ``call_ids`` are logged already."""
        found: set[str] = set()
        for start in range(0, len(call_ids), MAX_PAGE):
            chunk = list(call_ids[start : start + MAX_PAGE])
            marks = ", ".join("?" for _ in chunk)
            async with self._db.reading() as conn:
                rows = await conn.execute_fetchall(
                    f"SELECT call_id FROM call_log WHERE call_id IN ({marks})", chunk
                )
            found.update(str(row[0]) for row in rows)
        return found

    async def get(self, call_id: str) -> dict[str, Any]:
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_COLUMN_LIST} FROM call_log WHERE call_id = ?", (call_id,)
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no call {call_id!r}")
        return _row_dict(row)

    async def query(self, query: CallQuery) -> CallPage:
        clauses, params = _where(query)
        count_sql = "SELECT COUNT(*) FROM call_log"
        if clauses:
            count_sql += " WHERE " + " AND ".join(clauses)
        page_clauses, page_params = list(clauses), list(params)
        if query.after is not None:
            page_clauses.append("(started_at < ? OR (started_at = ? AND call_id > ?))")
            page_params += [query.after.started_at, query.after.started_at, query.after.call_id]
        page_sql = f"SELECT {_COLUMN_LIST} FROM call_log"
        if page_clauses:
            page_sql += " WHERE " + " AND ".join(page_clauses)
        # One row more than asked tells whether another page follows.
        page_sql += " ORDER BY started_at DESC, call_id ASC LIMIT ?"
        page_params.append(query.limit + 1)
        async with self._db.reading() as conn:
            async with conn.execute(count_sql, params) as cursor:
                count_row = await cursor.fetchone()
            async with conn.execute(page_sql, page_params) as cursor:
                rows = list(await cursor.fetchall())
        total = int(count_row[0]) if count_row else 0
        items = [_row_dict(row) for row in rows[: query.limit]]
        next_key = None
        if len(rows) > query.limit:
            last = items[-1]
            next_key = PageKey(last["started_at"], last["call_id"])
        return CallPage(items=items, total=total, next_key=next_key)

    async def pages(self, query: CallQuery) -> AsyncIterator[list[dict[str, Any]]]:
        """Every call matching ``query`` (its ``limit`` is the page size), newest first, a page
        at a time and without counting (for CSV export); the lock is released between pages."""
        clauses, params = _where(query)
        after = query.after
        while True:
            page_clauses, page_params = list(clauses), list(params)
            if after is not None:
                page_clauses.append("(started_at < ? OR (started_at = ? AND call_id > ?))")
                page_params += [after.started_at, after.started_at, after.call_id]
            sql = f"SELECT {_COLUMN_LIST} FROM call_log"
            if page_clauses:
                sql += " WHERE " + " AND ".join(page_clauses)
            sql += " ORDER BY started_at DESC, call_id ASC LIMIT ?"
            page_params.append(query.limit)
            async with self._db.reading() as conn:
                rows = await conn.execute_fetchall(sql, page_params)
            items = [_row_dict(row) for row in rows]
            if not items:
                return
            yield items
            if len(items) < query.limit:
                return
            after = PageKey(items[-1]["started_at"], items[-1]["call_id"])


class CallLogWriter(BatchWriter[CallRecord]):
    """Batches finished calls into :meth:`CallLog.add_many` without ever dropping one: the
    pump calls ``submit`` (never blocks), a named task writes what accumulated in one
    transaction (a burst of 300 calls is a handful of commits), retries a failed batch, and
    still writes everything on shutdown. Writing a batch twice is harmless: the call log
    ignores a call id it already has."""

    def __init__(
        self, call_log: CallLog, *, max_batch: int = MAX_PAGE, retry_delay_s: float = 1.0
    ) -> None:
        super().__init__(
            call_log.add_many, name="call log", max_batch=max_batch, retry_delay_s=retry_delay_s
        )


__all__ = [
    "MAX_PAGE",
    "CallLinker",
    "CallLog",
    "CallLogWriter",
    "CallPage",
    "CallQuery",
    "PageKey",
    "call_json",
    "select_calls",
    "time_key",
]
