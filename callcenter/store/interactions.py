"""The customer timeline: calls (linked by the call log), notes, dispositions, callbacks and
tickets.

Writes name a customer by id; an id that was merged into another record is followed to the
kept one (an agent's screen may still show the old record). Authors and assignees are
usernames. A callback is ``open`` until ``done`` or ``cancelled``; ``assigned_to`` None means
any agent may take it. A ticket (or complaint) is ``open``/``pending`` until ``resolved`` or
``closed`` and can be linked to calls.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from callcenter.errors import NotFoundError, StoreError
from callcenter.model.records import iso
from callcenter.store import search
from callcenter.store.calllog import call_json, select_calls
from callcenter.store.customers import check_user, live_customer_id
from callcenter.store.database import Database
from callcenter.store.transcripts import SubjectKind, subjects_of

UNSET: Any = object()
"""Marks a patch value that was not given (None is a value: "assigned to anyone")."""


class CallbackState(enum.Enum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TicketStatus(enum.Enum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketKind(enum.Enum):
    TICKET = "ticket"
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    state: CallbackState | None = CallbackState.OPEN
    assigned_to: str | None = None
    """A username: callbacks assigned to them or to anyone."""
    due_before: str | None = None
    customer_id: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class TicketQuery:
    status: TicketStatus | None = None
    kind: TicketKind | None = None
    customer_id: int | None = None
    limit: int = 100


_NOTE = "SELECT id, customer_id, call_id, author, body, created_at FROM notes"
_DISPOSITION = "SELECT id, customer_id, call_id, code, author, created_at FROM dispositions"
_CALLBACK = (
    "SELECT id, customer_id, due_at, assigned_to, state, note, created_by, created_at,"
    " updated_at FROM callbacks"
)
_TICKET = (
    "SELECT id, customer_id, kind, subject, status, created_by, created_at, updated_at FROM tickets"
)


def note_json(row: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "customer_id", "call_id", "author", "body", "created_at")
    return dict(zip(keys, row, strict=True))


def disposition_json(row: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "customer_id", "call_id", "code", "author", "created_at")
    return dict(zip(keys, row, strict=True))


def callback_json(row: Sequence[Any]) -> dict[str, Any]:
    keys = (
        "id",
        "customer_id",
        "due_at",
        "assigned_to",
        "state",
        "note",
        "created_by",
        "created_at",
        "updated_at",
    )
    return dict(zip(keys, row, strict=True))


def ticket_json(row: Sequence[Any], calls: list[str]) -> dict[str, Any]:
    keys = ("id", "customer_id", "kind", "subject", "status", "created_by", "created_at")
    data = dict(zip(keys, row[:7], strict=True))
    data["updated_at"] = row[7]
    data["calls"] = calls
    return data


async def ticket_calls(conn: aiosqlite.Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await conn.execute_fetchall(
            "SELECT ticket_id, call_id FROM ticket_calls"
            f" WHERE ticket_id IN ({', '.join('?' for _ in chunk)}) ORDER BY ticket_id, call_id",
            chunk,
        )
        for ticket_id, call_id in rows:
            found[int(ticket_id)].append(str(call_id))
    return found


async def tickets_of(
    conn: aiosqlite.Connection, where: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    rows = list(await conn.execute_fetchall(f"{_TICKET} WHERE {where}", params))
    calls = await ticket_calls(conn, [int(row[0]) for row in rows])
    return [ticket_json(row, calls[int(row[0])]) for row in rows]


class Interactions:
    """Repository of notes, dispositions, callbacks, tickets and the timeline."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def _now(self) -> str:
        return iso(self._clock()) or ""

    # --- notes and dispositions ------------------------------------------------------------

    async def add_note(
        self, customer_id: int, *, author: str, body: str, call_id: str | None = None
    ) -> dict[str, Any]:
        now = self._now()
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            cursor = await conn.execute(
                "INSERT INTO notes (customer_id, call_id, author, body, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (customer_id, call_id, author, body, now),
            )
            note_id = _rowid(cursor.lastrowid)
            await cursor.close()
            await search.put_notes(conn, [(note_id, body)])
        return note_json((note_id, customer_id, call_id, author, body, now))

    async def add_disposition(
        self, customer_id: int, *, author: str, code: str, call_id: str | None = None
    ) -> dict[str, Any]:
        now = self._now()
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            cursor = await conn.execute(
                "INSERT INTO dispositions (customer_id, call_id, code, author, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (customer_id, call_id, code, author, now),
            )
            disposition_id = _rowid(cursor.lastrowid)
            await cursor.close()
        return disposition_json((disposition_id, customer_id, call_id, code, author, now))

    # --- callbacks -------------------------------------------------------------------------

    async def add_callback(
        self,
        customer_id: int,
        *,
        due_at: str,
        assigned_to: str | None,
        note: str,
        created_by: str,
    ) -> dict[str, Any]:
        now = self._now()
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            await check_user(conn, assigned_to, "assigned_to")
            cursor = await conn.execute(
                "INSERT INTO callbacks (customer_id, due_at, assigned_to, state, note,"
                " created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (customer_id, due_at, assigned_to, "open", note, created_by, now, now),
            )
            callback_id = _rowid(cursor.lastrowid)
            await cursor.close()
        return callback_json(
            (callback_id, customer_id, due_at, assigned_to, "open", note, created_by, now, now)
        )

    async def get_callback(self, callback_id: int) -> dict[str, Any]:
        async with self._db.reading() as conn:
            rows = list(await conn.execute_fetchall(f"{_CALLBACK} WHERE id = ?", (callback_id,)))
        if not rows:
            raise NotFoundError(f"no callback {callback_id}")
        return callback_json(rows[0])

    async def update_callback(
        self,
        callback_id: int,
        *,
        state: CallbackState | None = None,
        due_at: str | None = None,
        assigned_to: Any = UNSET,
        note: str | None = None,
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if state is not None:
            changes["state"] = state.value
        if due_at is not None:
            changes["due_at"] = due_at
        if assigned_to is not UNSET:
            changes["assigned_to"] = assigned_to
        if note is not None:
            changes["note"] = note
        async with self._db.transaction() as conn:
            if "assigned_to" in changes:
                await check_user(conn, changes["assigned_to"], "assigned_to")
            sets = ", ".join(f"{name} = ?" for name in [*changes, "updated_at"])
            cursor = await conn.execute(
                f"UPDATE callbacks SET {sets} WHERE id = ?",
                [*changes.values(), self._now(), callback_id],
            )
            if cursor.rowcount != 1:
                raise NotFoundError(f"no callback {callback_id}")
            await cursor.close()
            rows = list(await conn.execute_fetchall(f"{_CALLBACK} WHERE id = ?", (callback_id,)))
        return callback_json(rows[0])

    async def callbacks(self, query: CallbackQuery) -> list[dict[str, Any]]:
        """Earliest due first."""
        clauses: list[str] = []
        params: list[Any] = []
        if query.state is not None:
            clauses.append("state = ?")
            params.append(query.state.value)
        if query.assigned_to is not None:
            clauses.append("(assigned_to = ? OR assigned_to IS NULL)")
            params.append(query.assigned_to)
        if query.due_before is not None:
            clauses.append("due_at < ?")
            params.append(query.due_before)
        if query.customer_id is not None:
            clauses.append("customer_id = ?")
            params.append(query.customer_id)
        sql = _CALLBACK
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY due_at, id LIMIT ?"
        params.append(query.limit)
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(sql, params)
        return [callback_json(row) for row in rows]

    # --- tickets ---------------------------------------------------------------------------

    async def add_ticket(
        self,
        customer_id: int,
        *,
        kind: TicketKind,
        subject: str,
        created_by: str,
        calls: Sequence[str] = (),
    ) -> dict[str, Any]:
        now = self._now()
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            cursor = await conn.execute(
                "INSERT INTO tickets (customer_id, kind, subject, status, created_by,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (customer_id, kind.value, subject, "open", created_by, now, now),
            )
            ticket_id = _rowid(cursor.lastrowid)
            await cursor.close()
            await _link_ticket_calls(conn, ticket_id, calls)
            [ticket] = await tickets_of(conn, "id = ?", (ticket_id,))
        return ticket

    async def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        async with self._db.reading() as conn:
            found = await tickets_of(conn, "id = ?", (ticket_id,))
        if not found:
            raise NotFoundError(f"no ticket {ticket_id}")
        return found[0]

    async def update_ticket(
        self,
        ticket_id: int,
        *,
        status: TicketStatus | None = None,
        subject: str | None = None,
        add_calls: Sequence[str] = (),
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status.value
        if subject is not None:
            changes["subject"] = subject
        async with self._db.transaction() as conn:
            sets = ", ".join(f"{name} = ?" for name in [*changes, "updated_at"])
            cursor = await conn.execute(
                f"UPDATE tickets SET {sets} WHERE id = ?",
                [*changes.values(), self._now(), ticket_id],
            )
            if cursor.rowcount != 1:
                raise NotFoundError(f"no ticket {ticket_id}")
            await cursor.close()
            await _link_ticket_calls(conn, ticket_id, add_calls)
            [ticket] = await tickets_of(conn, "id = ?", (ticket_id,))
        return ticket

    async def tickets(self, query: TicketQuery) -> list[dict[str, Any]]:
        """Most recently updated first."""
        clauses = ["1 = 1"]
        params: list[Any] = []
        for column, value in (
            ("status", query.status.value if query.status else None),
            ("kind", query.kind.value if query.kind else None),
            ("customer_id", query.customer_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        async with self._db.reading() as conn:
            return await tickets_of(
                conn,
                " AND ".join(clauses) + " ORDER BY updated_at DESC, id DESC LIMIT ?",
                [*params, query.limit],
            )

    # --- timeline --------------------------------------------------------------------------

    async def timeline(self, customer_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` events of any kind, newest first. Each is
        ``{"type": "call"|"note"|"disposition"|"callback"|"ticket", "at": ..., <type>: {...}}``
        where ``at`` is when it happened (a call's start, a callback's creation).

        A call that was queued for transcription carries ``transcription`` (``state``,
        ``error``, ``transcript``: segments with speakers, summary, keywords; see
        :func:`~callcenter.store.transcripts.subjects_of`), other calls ``None``. A voice note
        is a note with ``voice_note`` in the same form (``None`` on written notes)."""
        events: list[dict[str, Any]] = []
        async with self._db.snapshot() as conn:
            calls = await conn.execute_fetchall(
                f"{select_calls('l')} FROM customer_calls x JOIN call_log l"
                " ON l.call_id = x.call_id WHERE x.customer_id = ?"
                " ORDER BY x.started_at DESC LIMIT ?",
                (customer_id, limit),
            )
            events += [_event("call", call_json(row), "started_at") for row in calls]
            for kind, sql, render in (
                ("note", _NOTE, note_json),
                ("disposition", _DISPOSITION, disposition_json),
                ("callback", _CALLBACK, callback_json),
            ):
                rows = await conn.execute_fetchall(
                    f"{sql} WHERE customer_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                    (customer_id, limit),
                )
                events += [_event(kind, render(row), "created_at") for row in rows]
            tickets = await tickets_of(
                conn,
                "customer_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                (customer_id, limit),
            )
            events += [_event("ticket", ticket, "created_at") for ticket in tickets]
            await _attach_transcripts(conn, events)
        events.sort(key=lambda e: (e["at"], e["type"]), reverse=True)
        return events[:limit]


async def _attach_transcripts(conn: aiosqlite.Connection, events: list[dict[str, Any]]) -> None:
    calls = [e["call"] for e in events if e["type"] == "call"]
    notes = [e["note"] for e in events if e["type"] == "note"]
    by_call = await subjects_of(conn, SubjectKind.CALL, [str(c["call_id"]) for c in calls])
    by_note = await subjects_of(conn, SubjectKind.VOICE_NOTE, [str(n["id"]) for n in notes])
    for call in calls:
        call["transcription"] = by_call.get(str(call["call_id"]))
    for note in notes:
        note["voice_note"] = by_note.get(str(note["id"]))


def _event(kind: str, data: Mapping[str, Any], time_field: str) -> dict[str, Any]:
    return {"type": kind, "at": data[time_field], kind: dict(data)}


async def _link_ticket_calls(
    conn: aiosqlite.Connection, ticket_id: int, calls: Sequence[str]
) -> None:
    if calls:
        await conn.executemany(
            "INSERT INTO ticket_calls (ticket_id, call_id) VALUES (?, ?)"
            " ON CONFLICT (ticket_id, call_id) DO NOTHING",
            [(ticket_id, call_id) for call_id in calls],
        )


def _rowid(rowid: int | None) -> int:
    if rowid is None:  # pragma: no cover - an INSERT always sets one
        raise StoreError("insert returned no row id")
    return rowid


__all__ = [
    "UNSET",
    "CallbackQuery",
    "CallbackState",
    "Interactions",
    "TicketKind",
    "TicketQuery",
    "TicketStatus",
]
