"""GDPR in the database: everything about one customer, erasure, and recording retention.

Erasure (:meth:`Privacy.erase`) deletes the customer and every record merged into it, with
their phones, emails, addresses, notes, dispositions, callbacks, tickets, interactions from
other channels (e-mails, letters, chats...), consent history and search entries.
Transcripts of their calls and
voice notes go too, with their jobs and index entries (the audio paths are returned). The
calls stay, for anonymous statistics (queue, agent, times, outcome): their link to the
customer is removed, the customer's side of the call (the caller number and name of an
inbound call, the called number of an outbound one) is blanked and the recording reference
cleared. A call also linked to another customer (a shared number) is blanked too: the
erasure request wins; the other customer keeps the link. Deleting the recording *files* is
the caller's job (:mod:`callcenter.crm.privacy`), with the paths returned here.

The database connection runs with ``secure_delete`` and :func:`search.purge` drops the
postings of deleted text from the full-text index, so erased data does not linger in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from callcenter.errors import NotFoundError
from callcenter.store import search
from callcenter.store.calllog import call_json, select_calls
from callcenter.store.channels import erase_interactions, interactions_of
from callcenter.store.customers import chunks, customer_row, customer_row_data, load_customers
from callcenter.store.database import Database
from callcenter.store.interactions import (
    callback_json,
    disposition_json,
    note_json,
    tickets_of,
)
from callcenter.store.transcripts import SubjectKind, erase_subjects, subjects_of


@dataclass(frozen=True, slots=True)
class Erasure:
    customer_ids: list[int]
    """The customer and the records merged into it, all deleted."""
    calls_anonymised: int
    recordings: list[str]
    """Recording paths that were referenced by the anonymised calls (or their transcription
    jobs)."""
    voice_notes: list[str] = field(default_factory=list)
    """Audio files of the customer's voice notes."""


async def _family(conn: aiosqlite.Connection, customer_id: int) -> list[int]:
    """The customer and the tombstones of records merged into it."""
    row = customer_row_data(await customer_row(conn, customer_id))
    if row["merged_into"] is not None:
        raise NotFoundError(
            f"customer {customer_id} was merged into {row['merged_into']}; use that id"
        )
    rows = await conn.execute_fetchall(
        "SELECT id FROM customers WHERE merged_into = ? ORDER BY id", (customer_id,)
    )
    return [customer_id, *(int(r[0]) for r in rows)]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


class Privacy:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def dossier(self, customer_id: int) -> dict[str, Any]:
        """Everything stored about one customer (GDPR access / portability)."""
        async with self._db.reading() as conn:
            family = await _family(conn, customer_id)
            customers = await load_customers(conn, family)
            marks = _marks(family)
            calls = [
                call_json(row)
                for row in await conn.execute_fetchall(
                    f"{select_calls('l')} FROM call_log l WHERE l.call_id IN"
                    f" (SELECT call_id FROM customer_calls WHERE customer_id IN ({marks}))"
                    " ORDER BY l.started_at, l.call_id",
                    family,
                )
            ]
            sections: dict[str, list[dict[str, Any]]] = {}
            for name, table, render, columns in (
                ("notes", "notes", note_json, "id, customer_id, call_id, author, body, created_at"),
                (
                    "dispositions",
                    "dispositions",
                    disposition_json,
                    "id, customer_id, call_id, code, author, created_at",
                ),
                (
                    "callbacks",
                    "callbacks",
                    callback_json,
                    "id, customer_id, due_at, assigned_to, state, note, created_by,"
                    " created_at, updated_at",
                ),
            ):
                rows = await conn.execute_fetchall(
                    f"SELECT {columns} FROM {table} WHERE customer_id IN ({marks}) ORDER BY id",
                    family,
                )
                sections[name] = [render(row) for row in rows]
            tickets = await tickets_of(conn, f"customer_id IN ({marks}) ORDER BY id", family)
            interactions = await interactions_of(conn, family)
            consent_changes = [
                {
                    "customer_id": int(row[0]),
                    "field": row[1],
                    "old_value": bool(row[2]),
                    "new_value": bool(row[3]),
                    "changed_by": row[4],
                    "changed_at": row[5],
                }
                for row in await conn.execute_fetchall(
                    "SELECT customer_id, field, old_value, new_value, changed_by, changed_at"
                    f" FROM consent_changes WHERE customer_id IN ({marks}) ORDER BY id",
                    family,
                )
            ]
            transcripts = [
                {"call_id": call_id, **entry["transcript"]}
                for call_id, entry in (
                    await subjects_of(conn, SubjectKind.CALL, [c["call_id"] for c in calls])
                ).items()
                if entry["transcript"] is not None
            ] + [
                {"note_id": int(note_id), **entry["transcript"]}
                for note_id, entry in (
                    await subjects_of(
                        conn, SubjectKind.VOICE_NOTE, [str(n["id"]) for n in sections["notes"]]
                    )
                ).items()
                if entry["transcript"] is not None
            ]
        return {
            "customer": customers[0],
            "merged_records": customers[1:],
            "calls": calls,
            **sections,
            "tickets": tickets,
            "interactions": interactions,
            "consent_changes": consent_changes,
            "transcripts": transcripts,
            "recordings": [
                {"call_id": call["call_id"], "path": call["recording"]}
                for call in calls
                if call["recording"]
            ],
        }

    async def recordings(self, customer_id: int) -> list[str]:
        """Paths of the recordings of this customer's calls."""
        async with self._db.reading() as conn:
            family = await _family(conn, customer_id)
            rows = await conn.execute_fetchall(
                "SELECT DISTINCT l.recording FROM call_log l JOIN customer_calls x"
                f" ON x.call_id = l.call_id WHERE x.customer_id IN ({_marks(family)})"
                " AND l.recording IS NOT NULL ORDER BY 1",
                family,
            )
        return [str(row[0]) for row in rows]

    async def erasure_preview(self, customer_id: int) -> dict[str, Any]:
        """What :meth:`erase` would delete or anonymise, counted (for the confirmation)."""
        async with self._db.reading() as conn:
            family = await _family(conn, customer_id)
            marks = _marks(family)
            counts: dict[str, Any] = {"customers": family}
            linked = f"SELECT call_id FROM customer_calls WHERE customer_id IN ({marks})"
            for name, sql in (
                ("calls_anonymised", f"SELECT COUNT(*) FROM call_log WHERE call_id IN ({linked})"),
                (
                    "recordings",
                    f"SELECT COUNT(DISTINCT recording) FROM call_log WHERE call_id IN ({linked})"
                    " AND recording IS NOT NULL",
                ),
                ("phones", f"SELECT COUNT(*) FROM customer_phones WHERE customer_id IN ({marks})"),
                ("emails", f"SELECT COUNT(*) FROM customer_emails WHERE customer_id IN ({marks})"),
                (
                    "addresses",
                    f"SELECT COUNT(*) FROM customer_addresses WHERE customer_id IN ({marks})",
                ),
                ("notes", f"SELECT COUNT(*) FROM notes WHERE customer_id IN ({marks})"),
                (
                    "dispositions",
                    f"SELECT COUNT(*) FROM dispositions WHERE customer_id IN ({marks})",
                ),
                ("callbacks", f"SELECT COUNT(*) FROM callbacks WHERE customer_id IN ({marks})"),
                ("tickets", f"SELECT COUNT(*) FROM tickets WHERE customer_id IN ({marks})"),
                (
                    "interactions",
                    f"SELECT COUNT(*) FROM channel_interactions WHERE customer_id IN ({marks})",
                ),
            ):
                params = family
                rows = list(await conn.execute_fetchall(sql, params))
                counts[name] = int(rows[0][0])
        return counts

    async def erase(self, customer_id: int) -> Erasure:
        async with self._db.transaction() as conn:
            family = await _family(conn, customer_id)
            marks = _marks(family)
            linked = f"SELECT call_id FROM customer_calls WHERE customer_id IN ({marks})"
            recordings = [
                str(row[0])
                for row in await conn.execute_fetchall(
                    f"SELECT DISTINCT recording FROM call_log WHERE call_id IN ({linked})"
                    " AND recording IS NOT NULL ORDER BY 1",
                    family,
                )
            ]
            cursor = await conn.execute(
                "UPDATE call_log SET"
                " caller_number = CASE WHEN direction = 'inbound' THEN '' ELSE caller_number END,"
                " caller_name = CASE WHEN direction = 'inbound' THEN '' ELSE caller_name END,"
                " called_number = CASE WHEN direction = 'outbound' THEN '' ELSE called_number END,"
                f" recording = NULL WHERE call_id IN ({linked})",
                family,
            )
            anonymised = cursor.rowcount
            await cursor.close()
            note_ids = [
                int(row[0])
                for row in await conn.execute_fetchall(
                    f"SELECT id FROM notes WHERE customer_id IN ({marks})", family
                )
            ]
            call_ids = [
                str(row[0])
                for row in await conn.execute_fetchall(
                    f"SELECT DISTINCT call_id FROM customer_calls WHERE customer_id IN ({marks})",
                    family,
                )
            ]
            for path in await erase_subjects(conn, SubjectKind.CALL, call_ids):
                if path not in recordings:
                    recordings.append(path)
            voice_notes = await erase_subjects(
                conn, SubjectKind.VOICE_NOTE, [str(i) for i in note_ids]
            )
            await search.drop_notes(conn, note_ids)
            await erase_interactions(conn, family)
            await search.drop_customers(conn, family)
            await conn.execute(f"DELETE FROM customer_calls WHERE customer_id IN ({marks})", family)
            # Tombstones first: they reference the kept record.
            for member in reversed(family):
                await conn.execute("DELETE FROM customers WHERE id = ?", (member,))
        return Erasure(family, anonymised, recordings, voice_notes)

    async def expired_recordings(
        self, before: str, *, after: tuple[str, str] | None = None, limit: int = 500
    ) -> list[tuple[str, str, str]]:
        """(started_at, call id, recording path) of calls started before ``before`` (stored
        time form) that still reference a recording, oldest first, continuing after the
        (started_at, call id) ``after``."""
        sql = (
            "SELECT started_at, call_id, recording FROM call_log"
            " WHERE recording IS NOT NULL AND started_at < ?"
        )
        params: list[Any] = [before]
        if after is not None:
            sql += " AND (started_at > ? OR (started_at = ? AND call_id > ?))"
            params += [after[0], after[0], after[1]]
        sql += " ORDER BY started_at, call_id LIMIT ?"
        params.append(limit)
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(sql, params)
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    async def forget_recordings(self, call_ids: Sequence[str]) -> None:
        async with self._db.transaction() as conn:
            for chunk in chunks(list(call_ids)):
                await conn.execute(
                    f"UPDATE call_log SET recording = NULL WHERE call_id IN ({_marks(chunk)})",
                    chunk,
                )

    async def purge_deleted_text(self) -> None:
        """Rewrite the search index without the postings of erased text, then checkpoint and
        truncate the write-ahead log, which still holds the old page images."""
        async with self._db.transaction() as conn:
            await search.purge(conn)
        async with self._db.reading() as conn:
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
