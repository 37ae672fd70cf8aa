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

from callcenter.errors import ConflictError, NotFoundError, StoreError
from callcenter.model.records import iso
from callcenter.store import search
from callcenter.store.calllog import call_json, select_calls
from callcenter.store.channels import interactions_of
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
    assigned_to: str | None = None
    category: str | None = None
    overdue_at: str | None = None
    """A stored time: only unresolved tickets due before it."""


_NOTE = "SELECT id, customer_id, call_id, author, body, created_at FROM notes"
_DISPOSITION = "SELECT id, customer_id, call_id, code, author, created_at FROM dispositions"
_CALLBACK = (
    "SELECT id, customer_id, due_at, assigned_to, state, note, created_by, created_at,"
    " updated_at FROM callbacks"
)
_TICKET = (
    "SELECT id, customer_id, kind, subject, status, created_by, created_at, updated_at,"
    " assigned_to, category, due_at, resolution FROM tickets"
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
    data["assigned_to"] = row[8]
    data["category"] = row[9]
    data["due_at"] = row[10]
    data["resolution"] = row[11]
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
            return await _insert_note(conn, customer_id, author, body, call_id, now)

    async def add_disposition(
        self, customer_id: int, *, author: str, code: str, call_id: str | None = None
    ) -> dict[str, Any]:
        now = self._now()
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            return await _insert_disposition(conn, customer_id, author, code, call_id, now)

    # --- wrap-up ---------------------------------------------------------------------------

    async def wrap_up(self, wrap: WrapUpEntry) -> WrapUpSaved:
        """Disposition, note and callback in one transaction: all saved or none (a failing
        note leaves no disposition behind). A wrap-up naming a call is saved once per call
        and author: the same wrap-up again (a retry after a lost response) answers with
        the rows saved the first time (``replayed``); a different one is a
        :class:`ConflictError`."""
        now = self._now()
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, wrap.customer_id)
            if wrap.call_id is not None:
                earlier = await _saved_wrap_up(conn, wrap.call_id, wrap.author)
                if earlier is not None:
                    if not earlier.matches(wrap):
                        raise ConflictError(
                            f"call {wrap.call_id} already has a different wrap-up by {wrap.author}"
                        )
                    return earlier
            await check_user(conn, wrap.callback_for, "callback.for")
            disposition = await _insert_disposition(
                conn, customer_id, wrap.author, wrap.disposition, wrap.call_id, now
            )
            note = None
            if wrap.note:
                note = await _insert_note(
                    conn, customer_id, wrap.author, wrap.note, wrap.call_id, now
                )
            callback = None
            if wrap.callback_due is not None:
                callback = await _insert_callback(
                    conn,
                    customer_id,
                    due_at=wrap.callback_due,
                    assigned_to=wrap.callback_for,
                    note=wrap.callback_note,
                    created_by=wrap.author,
                    now=now,
                )
            if wrap.call_id is not None:
                await conn.execute(
                    "INSERT INTO wrapups (call_id, author, disposition_id, note_id, callback_id,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        wrap.call_id,
                        wrap.author,
                        disposition["id"],
                        note["id"] if note else None,
                        callback["id"] if callback else None,
                        now,
                    ),
                )
        return WrapUpSaved(disposition, note, callback, replayed=False)

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
            return await _insert_callback(
                conn,
                customer_id,
                due_at=due_at,
                assigned_to=assigned_to,
                note=note,
                created_by=created_by,
                now=now,
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
        assigned_to: str | None = None,
        category: str = "",
        due_at: str | None = None,
    ) -> dict[str, Any]:
        now = self._now()
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            await check_user(conn, assigned_to, "assigned_to")
            cursor = await conn.execute(
                "INSERT INTO tickets (customer_id, kind, subject, status, created_by,"
                " created_at, updated_at, assigned_to, category, due_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer_id,
                    kind.value,
                    subject,
                    "open",
                    created_by,
                    now,
                    now,
                    assigned_to,
                    category,
                    due_at,
                ),
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
        assigned_to: Any = UNSET,
        category: str | None = None,
        due_at: Any = UNSET,
        resolution: str | None = None,
    ) -> dict[str, Any]:
        """Change what is given (``assigned_to`` and ``due_at`` may be None: nobody, no due
        time; :data:`UNSET` leaves them)."""
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status.value
        if subject is not None:
            changes["subject"] = subject
        if assigned_to is not UNSET:
            changes["assigned_to"] = assigned_to
        if category is not None:
            changes["category"] = category
        if due_at is not UNSET:
            changes["due_at"] = due_at
        if resolution is not None:
            changes["resolution"] = resolution
        async with self._db.transaction() as conn:
            if changes.get("assigned_to") is not None:
                await check_user(conn, changes["assigned_to"], "assigned_to")
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
            ("assigned_to", query.assigned_to),
            ("category", query.category),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.overdue_at is not None:
            clauses.append("status IN ('open', 'pending') AND due_at IS NOT NULL AND due_at < ?")
            params.append(query.overdue_at)
        async with self._db.reading() as conn:
            return await tickets_of(
                conn,
                " AND ".join(clauses) + " ORDER BY updated_at DESC, id DESC LIMIT ?",
                [*params, query.limit],
            )

    # --- timeline --------------------------------------------------------------------------

    async def timeline(self, customer_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` events of any kind, newest first. Each is
        ``{"type": "call"|"note"|"disposition"|"callback"|"ticket"|"interaction"|"campaign",
        "at": ..., <type>: {...}}`` where ``at`` is when it happened (a call's start, a
        callback's creation, an e-mail's ``occurred_at``, a campaign attempt's last dial).

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
            others = await interactions_of(conn, [customer_id], limit=limit)
            events += [_event("interaction", item, "occurred_at") for item in others]
            attempts = await conn.execute_fetchall(
                "SELECT a.attempt_id, a.campaign_id, c.name, a.number, a.state, a.tries,"
                " a.last_outcome, a.done_reason, a.agent, a.dialed_at FROM campaign_attempts a"
                " JOIN campaigns c ON c.id = a.campaign_id"
                " WHERE a.customer_id = ? AND a.dialed_at IS NOT NULL"
                " ORDER BY a.dialed_at DESC LIMIT ?",
                (customer_id, limit),
            )
            events += [
                _event("campaign", dict(zip(_ATTEMPT_KEYS, row, strict=True)), "dialed_at")
                for row in attempts
            ]
            await _attach_transcripts(conn, events)
        events.sort(key=lambda e: (e["at"], e["type"]), reverse=True)
        return events[:limit]


@dataclass(frozen=True, slots=True)
class WrapUpEntry:
    """What an agent records about one call (validated by the web layer)."""

    customer_id: int
    author: str
    call_id: str | None
    disposition: str
    note: str | None = None
    callback_due: str | None = None
    callback_for: str | None = None
    callback_note: str = ""


@dataclass(frozen=True, slots=True)
class WrapUpSaved:
    disposition: dict[str, Any]
    note: dict[str, Any] | None
    callback: dict[str, Any] | None
    replayed: bool

    def matches(self, wrap: WrapUpEntry) -> bool:
        """The same wrap-up as ``wrap`` (what a retry of the same request would save)."""
        note = self.note["body"] if self.note else None
        callback = (
            (self.callback["due_at"], self.callback["assigned_to"], self.callback["note"])
            if self.callback
            else None
        )
        wanted = (
            (wrap.callback_due, wrap.callback_for, wrap.callback_note)
            if wrap.callback_due is not None
            else None
        )
        return (
            self.disposition["code"] == wrap.disposition
            and note == (wrap.note or None)
            and callback == wanted
        )


async def _saved_wrap_up(
    conn: aiosqlite.Connection, call_id: str, author: str
) -> WrapUpSaved | None:
    rows = list(
        await conn.execute_fetchall(
            "SELECT disposition_id, note_id, callback_id FROM wrapups"
            " WHERE call_id = ? AND author = ?",
            (call_id, author),
        )
    )
    if not rows:
        return None
    disposition_id, note_id, callback_id = rows[0]
    [disposition] = await conn.execute_fetchall(f"{_DISPOSITION} WHERE id = ?", (disposition_id,))
    notes = list(await conn.execute_fetchall(f"{_NOTE} WHERE id = ?", (note_id,)))
    callbacks = list(await conn.execute_fetchall(f"{_CALLBACK} WHERE id = ?", (callback_id,)))
    return WrapUpSaved(
        disposition_json(disposition),
        note_json(notes[0]) if notes else None,
        callback_json(callbacks[0]) if callbacks else None,
        replayed=True,
    )


async def _insert_note(
    conn: aiosqlite.Connection,
    customer_id: int,
    author: str,
    body: str,
    call_id: str | None,
    now: str,
) -> dict[str, Any]:
    cursor = await conn.execute(
        "INSERT INTO notes (customer_id, call_id, author, body, created_at) VALUES (?, ?, ?, ?, ?)",
        (customer_id, call_id, author, body, now),
    )
    note_id = _rowid(cursor.lastrowid)
    await cursor.close()
    await search.put_notes(conn, [(note_id, body)])
    return note_json((note_id, customer_id, call_id, author, body, now))


async def _insert_disposition(
    conn: aiosqlite.Connection,
    customer_id: int,
    author: str,
    code: str,
    call_id: str | None,
    now: str,
) -> dict[str, Any]:
    cursor = await conn.execute(
        "INSERT INTO dispositions (customer_id, call_id, code, author, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (customer_id, call_id, code, author, now),
    )
    disposition_id = _rowid(cursor.lastrowid)
    await cursor.close()
    return disposition_json((disposition_id, customer_id, call_id, code, author, now))


async def _insert_callback(
    conn: aiosqlite.Connection,
    customer_id: int,
    *,
    due_at: str,
    assigned_to: str | None,
    note: str,
    created_by: str,
    now: str,
) -> dict[str, Any]:
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


async def _attach_transcripts(conn: aiosqlite.Connection, events: list[dict[str, Any]]) -> None:
    calls = [e["call"] for e in events if e["type"] == "call"]
    notes = [e["note"] for e in events if e["type"] == "note"]
    by_call = await subjects_of(conn, SubjectKind.CALL, [str(c["call_id"]) for c in calls])
    by_note = await subjects_of(conn, SubjectKind.VOICE_NOTE, [str(n["id"]) for n in notes])
    for call in calls:
        call["transcription"] = by_call.get(str(call["call_id"]))
    for note in notes:
        note["voice_note"] = by_note.get(str(note["id"]))


_ATTEMPT_KEYS = (
    "attempt_id",
    "campaign_id",
    "campaign",
    "number",
    "state",
    "tries",
    "last_outcome",
    "done_reason",
    "agent",
    "dialed_at",
)


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
    "WrapUpEntry",
    "WrapUpSaved",
]
