"""Interactions from every channel other than the phone: e-mails, meetings, letters, chats and
social messages, logged by a user on the customer's page or posted by an integration.

Invariants:

- ``external_id`` (the other system's id) is unique: posting the same one again returns the
  interaction stored the first time and changes nothing (the integration may retry blindly).
  It is looked up across every customer, so a retry after a merge still finds it.
- An interaction is contact: the customer's ``last_contact_at`` moves up to ``occurred_at``
  (never back), which is what ``no_contact_days`` and the churn score read.
- Subject and body are in the full-text index (``transcript_search`` rows of kind
  ``interaction``, see :mod:`callcenter.store.search`) in the same transaction.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from callcenter.errors import StoreError
from callcenter.model.records import iso
from callcenter.store import search
from callcenter.store.customers import live_customer_id
from callcenter.store.database import Database


class Channel(enum.Enum):
    EMAIL = "email"
    MEETING = "meeting"
    LETTER = "letter"
    CHAT = "chat"
    SOCIAL = "social"


class Direction(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class InteractionInput:
    channel: Channel
    direction: Direction
    subject: str
    body: str
    occurred_at: str
    """Stored time form (ISO 8601 UTC, ``…Z``)."""
    external_id: str | None = None


COLUMNS = (
    "id",
    "customer_id",
    "channel",
    "direction",
    "subject",
    "body",
    "occurred_at",
    "external_id",
    "author",
    "created_at",
)
SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM channel_interactions"
SEARCH_KIND = "interaction"


def interaction_json(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(COLUMNS, row, strict=True))


async def interactions_of(
    conn: aiosqlite.Connection, customer_ids: Sequence[int], *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The interactions of these customers, newest first."""
    if not customer_ids:
        return []
    marks = ", ".join("?" for _ in customer_ids)
    sql = f"{SELECT} WHERE customer_id IN ({marks}) ORDER BY occurred_at DESC, id DESC"
    params: list[Any] = list(customer_ids)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [interaction_json(row) for row in await conn.execute_fetchall(sql, params)]


async def erase_interactions(conn: aiosqlite.Connection, customer_ids: Sequence[int]) -> int:
    """GDPR erasure inside the caller's transaction: rows and their index entries."""
    if not customer_ids:
        return 0
    marks = ", ".join("?" for _ in customer_ids)
    ids = [
        str(row[0])
        for row in await conn.execute_fetchall(
            f"SELECT id FROM channel_interactions WHERE customer_id IN ({marks})", customer_ids
        )
    ]
    await search.drop_transcripts(conn, SEARCH_KIND, ids)
    await conn.execute(
        f"DELETE FROM channel_interactions WHERE customer_id IN ({marks})", customer_ids
    )
    return len(ids)


class ChannelInteractions:
    """Repository of the non-phone interactions."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(
        self, customer_id: int, data: InteractionInput, *, author: str
    ) -> tuple[dict[str, Any], bool]:
        """The interaction and True if it is new; the stored one and False if its
        ``external_id`` was posted before (nothing is changed then)."""
        now = iso(self._clock()) or ""
        async with self._db.transaction() as conn:
            if data.external_id is not None:
                rows = list(
                    await conn.execute_fetchall(
                        f"{SELECT} WHERE external_id = ?", (data.external_id,)
                    )
                )
                if rows:
                    return interaction_json(rows[0]), False
            customer_id = await live_customer_id(conn, customer_id)
            cursor = await conn.execute(
                "INSERT INTO channel_interactions (customer_id, channel, direction, subject,"
                " body, occurred_at, external_id, author, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer_id,
                    data.channel.value,
                    data.direction.value,
                    data.subject,
                    data.body,
                    data.occurred_at,
                    data.external_id,
                    author,
                    now,
                ),
            )
            new_id = cursor.lastrowid
            await cursor.close()
            if new_id is None:  # pragma: no cover - an INSERT always sets one
                raise StoreError("insert returned no row id")
            await conn.execute(
                "UPDATE customers SET last_contact_at = ? WHERE id = ?"
                " AND (last_contact_at IS NULL OR last_contact_at < ?)",
                (data.occurred_at, customer_id, data.occurred_at),
            )
            await search.put_transcript(
                conn, SEARCH_KIND, str(new_id), f"{data.subject}\n{data.body}"
            )
            rows = list(await conn.execute_fetchall(f"{SELECT} WHERE id = ?", (new_id,)))
        return interaction_json(rows[0]), True

    async def of_customer(self, customer_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
        async with self._db.reading() as conn:
            return await interactions_of(conn, [customer_id], limit=limit)


__all__ = [
    "Channel",
    "ChannelInteractions",
    "Direction",
    "InteractionInput",
    "erase_interactions",
    "interaction_json",
    "interactions_of",
]
