"""The audit trail: who read, exported, changed or erased what, and when.

Entries are append-only. ``actor`` is a username (or ``anonymous`` / ``cli:<login>``), kept as
text so the trail survives the account; ``details`` is a JSON object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.model.records import iso
from callcenter.store.database import Database


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


class AuditLog:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def audit(
        self,
        actor: str,
        action: str,
        target: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one entry, e.g. ``audit("alice", "calls.list", "/api/calls?queue=sales")``."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)",
                (
                    iso(self._clock()),
                    actor,
                    action,
                    target,
                    json.dumps(dict(details or {}), ensure_ascii=False, default=str),
                ),
            )

    async def recent(
        self,
        *,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        customer_id: int | None = None,
        since: str | None = None,
        until: str | None = None,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first. ``action`` ending in ``.*`` matches the prefix (``customer.*``);
        ``customer_id`` finds the entries about that customer: requests to its URLs
        (``/api/customers/{id}`` and below) and bulk actions, merges naming it; ``since`` /
        ``until`` are ISO 8601 UTC bounds on ``at`` (``until`` exclusive); ``before_id``
        pages on."""
        clauses: list[str] = []
        params: list[Any] = []
        if actor is not None:
            clauses.append("actor = ?")
            params.append(actor)
        if action is not None and action.endswith(".*"):
            clauses.append("substr(action, 1, ?) = ?")
            params += [len(action) - 1, action[:-1]]
        elif action is not None:
            clauses.append("action = ?")
            params.append(action)
        if customer_id is not None:
            path = f"/api/customers/{customer_id}"
            clauses.append(
                "(target = ? OR substr(target, 1, ?) IN (?, ?)"
                " OR EXISTS (SELECT 1 FROM json_each(audit_log.details, '$.ids')"
                " WHERE value = ?)"
                " OR json_extract(audit_log.details, '$.merged') = ?)"
            )
            params += [path, len(path) + 1, path + "/", path + "?", customer_id, customer_id]
        if since is not None:
            clauses.append("at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("at < ?")
            params.append(until)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        sql = "SELECT id, at, actor, action, target, details FROM audit_log"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        async with self._db.reading() as conn, conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return [
            AuditEntry(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], json.loads(r[5]))
            for r in rows
        ]
