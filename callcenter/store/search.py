"""Full-text search over customers (name, company, emails), notes and transcripts: the one
SQLite-specific feature of the store (FTS5), kept entirely behind this module so a PostgreSQL
store can swap it for ``tsvector`` columns without touching the repositories.

Three FTS5 tables hold a copy of the searchable text: ``customer_search`` (rowid = customer
id), ``note_search`` (rowid = note id) and ``transcript_search`` (``kind`` and ``subject_id``
unindexed: a call id, whose customers come from ``customer_calls``, a voice note's note id, or
an ``interaction``'s id in ``channel_interactions``: e-mails, letters, chats...).
The repositories keep them in sync in the same transaction as every write
(:func:`put_customers`, :func:`reindex_customers`, :func:`drop_customers`, :func:`put_notes`,
:func:`drop_notes`, :func:`put_transcript`, :func:`drop_transcripts`); merged and erased
customers are not in the index. The tokenizer folds case and diacritics, so ``muller`` finds
``Müller``; every word of a query must match, as a prefix (``mül`` finds ``Müller``).

FTS5 deletes leave the old postings in older index segments until segments are merged;
:func:`purge` merges everything, so erased text is gone from the file too (with the
connection's ``secure_delete``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aiosqlite

_TOKENIZE = "unicode61 remove_diacritics 2"
_TABLES = {
    "customer_search": f"CREATE VIRTUAL TABLE customer_search USING fts5"
    f"(name, company, emails, tokenize = '{_TOKENIZE}')",
    "note_search": f"CREATE VIRTUAL TABLE note_search USING fts5(body, tokenize = '{_TOKENIZE}')",
    "transcript_search": "CREATE VIRTUAL TABLE transcript_search USING fts5"
    f"(kind UNINDEXED, subject_id UNINDEXED, body, tokenize = '{_TOKENIZE}')",
}
_FILL = {
    "customer_search": (
        "INSERT INTO customer_search (rowid, name, company, emails)"
        " SELECT c.id, c.name, c.company, COALESCE((SELECT group_concat(e.address, ' ')"
        " FROM customer_emails e WHERE e.customer_id = c.id), '')"
        " FROM customers c WHERE c.merged_into IS NULL"
    ),
    "note_search": "INSERT INTO note_search (rowid, body) SELECT id, body FROM notes",
    "transcript_search": (
        "INSERT INTO transcript_search (kind, subject_id, body)"
        " SELECT kind, subject_id, full_text FROM transcripts"
    ),
}
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 16

CustomerDocument = tuple[int, str, str, str]
"""(customer id, name, company, emails separated by spaces)."""


@dataclass(frozen=True, slots=True)
class Hit:
    customer_id: int
    matched: str
    """``customer`` (name, company or email), ``note``, ``transcript`` or ``interaction``."""
    rank: float


def match_expression(text: str) -> str | None:
    """A user's words as an FTS5 query: each word quoted (no operators get through) and
    matched as a prefix; None when there is no word in ``text``."""
    words = _WORD.findall(text)[:MAX_QUERY_WORDS]
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


async def ensure_index(conn: aiosqlite.Connection) -> bool:
    """Create the search tables if missing and fill them from the customer tables (a database
    migrated before search existed, or after a restore). True if anything was created."""
    rows = await conn.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE name IN ('customers', 'transcripts',"
        f" {', '.join(repr(name) for name in _TABLES)})"
    )
    present = {str(row[0]) for row in rows}
    if "customers" not in present:
        return False
    created = False
    for name, ddl in _TABLES.items():
        if name in present or (name == "transcript_search" and "transcripts" not in present):
            continue
        await conn.execute(ddl)
        await conn.execute(_FILL[name])
        created = True
    return created


async def put_customers(conn: aiosqlite.Connection, documents: Sequence[CustomerDocument]) -> None:
    """Index new customers (their ids must not be in the index yet)."""
    if documents:
        await conn.executemany(
            "INSERT INTO customer_search (rowid, name, company, emails) VALUES (?, ?, ?, ?)",
            documents,
        )


async def reindex_customers(conn: aiosqlite.Connection, customer_ids: Iterable[int]) -> None:
    """Re-read these customers from their tables into the index (merged ones leave it)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    await drop_customers(conn, ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        await conn.execute(
            "INSERT INTO customer_search (rowid, name, company, emails)"
            " SELECT c.id, c.name, c.company, COALESCE((SELECT group_concat(e.address, ' ')"
            " FROM customer_emails e WHERE e.customer_id = c.id), '')"
            f" FROM customers c WHERE c.merged_into IS NULL AND c.id IN ({marks})",
            chunk,
        )


async def drop_customers(conn: aiosqlite.Connection, customer_ids: Iterable[int]) -> None:
    await conn.executemany(
        "DELETE FROM customer_search WHERE rowid = ?", [(i,) for i in set(customer_ids)]
    )


async def put_notes(conn: aiosqlite.Connection, notes: Sequence[tuple[int, str]]) -> None:
    """Index new notes: (note id, body)."""
    if notes:
        await conn.executemany("INSERT INTO note_search (rowid, body) VALUES (?, ?)", notes)


async def drop_notes(conn: aiosqlite.Connection, note_ids: Iterable[int]) -> None:
    await conn.executemany("DELETE FROM note_search WHERE rowid = ?", [(i,) for i in note_ids])


async def put_transcript(conn: aiosqlite.Connection, kind: str, subject_id: str, text: str) -> None:
    """Index (or re-index) the transcript of a call or a voice note."""
    await drop_transcripts(conn, kind, [subject_id])
    await conn.execute(
        "INSERT INTO transcript_search (kind, subject_id, body) VALUES (?, ?, ?)",
        (kind, subject_id, text),
    )


async def drop_transcripts(
    conn: aiosqlite.Connection, kind: str, subject_ids: Iterable[str]
) -> None:
    await conn.executemany(
        "DELETE FROM transcript_search WHERE kind = ? AND subject_id = ?",
        [(kind, subject_id) for subject_id in subject_ids],
    )


async def search(conn: aiosqlite.Connection, text: str, *, limit: int) -> list[Hit]:
    """Customers whose name, company, emails, notes or transcripts (of their calls and voice
    notes) contain every word of ``text``, best match first (BM25), each customer once. Empty
    when ``text`` has no word."""
    expression = match_expression(text)
    if expression is None:
        return []
    customer_rows = await conn.execute_fetchall(
        "SELECT rowid, rank FROM customer_search WHERE customer_search MATCH ?"
        " ORDER BY rank LIMIT ?",
        (expression, limit),
    )
    note_rows = await conn.execute_fetchall(
        "SELECT n.customer_id, s.rank FROM note_search s JOIN notes n ON n.id = s.rowid"
        " WHERE note_search MATCH ? ORDER BY s.rank LIMIT ?",
        (expression, limit * 4),
    )
    transcript_rows = await conn.execute_fetchall(
        "SELECT x.customer_id, s.rank FROM transcript_search s JOIN customer_calls x"
        " ON s.kind = 'call' AND x.call_id = s.subject_id WHERE transcript_search MATCH ?"
        " UNION ALL SELECT n.customer_id, s.rank FROM transcript_search s JOIN notes n"
        " ON s.kind = 'voice_note' AND CAST(n.id AS TEXT) = s.subject_id"
        " WHERE transcript_search MATCH ? ORDER BY 2 LIMIT ?",
        (expression, expression, limit * 4),
    )
    interaction_rows = await conn.execute_fetchall(
        "SELECT i.customer_id, s.rank FROM transcript_search s JOIN channel_interactions i"
        " ON s.kind = 'interaction' AND CAST(i.id AS TEXT) = s.subject_id"
        " WHERE transcript_search MATCH ? ORDER BY s.rank LIMIT ?",
        (expression, limit * 4),
    )
    best: dict[int, Hit] = {}
    for kind, rows in (
        ("customer", customer_rows),
        ("note", note_rows),
        ("transcript", transcript_rows),
        ("interaction", interaction_rows),
    ):
        for row in rows:
            hit = Hit(int(row[0]), kind, float(row[1]))
            if hit.customer_id not in best or hit.rank < best[hit.customer_id].rank:
                best[hit.customer_id] = hit
    return sorted(best.values(), key=lambda hit: (hit.rank, hit.customer_id))[:limit]


async def purge(conn: aiosqlite.Connection) -> None:
    """Merge all index segments, dropping the postings of deleted rows (after erasures)."""
    for name in _TABLES:
        await conn.execute(f"INSERT INTO {name} ({name}) VALUES ('optimize')")
