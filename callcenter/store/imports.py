"""Import batches: one row per CSV upload with its progress and counts, and its rejected
rows (the row's number, the reason, its cells as they were in the file)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from callcenter.errors import NotFoundError, StoreError
from callcenter.model.records import iso
from callcenter.store.database import Database

BATCH_COLUMNS = (
    "id",
    "kind",
    "filename",
    "created_by",
    "created_at",
    "finished_at",
    "state",
    "bytes_total",
    "bytes_read",
    "rows",
    "imported",
    "updated",
    "duplicates",
    "failed",
    "error",
    "mapping",
)
COUNTS = ("bytes_read", "rows", "imported", "updated", "duplicates", "failed")


def batch_json(row: Sequence[Any]) -> dict[str, Any]:
    data = dict(zip(BATCH_COLUMNS, row, strict=True))
    data["mapping"] = json.loads(data["mapping"])
    total = data["bytes_total"]
    data["progress"] = (
        1.0
        if data["state"] != "running"
        else (min(1.0, data["bytes_read"] / total) if total else 0.0)
    )
    return data


class ImportBatches:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def start(
        self, kind: str, filename: str, user: str, bytes_total: int, mapping: dict[str, str]
    ) -> int:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO import_batches (kind, filename, created_by, created_at, state,"
                " bytes_total, mapping) VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (
                    kind,
                    filename,
                    user,
                    iso(self._clock()),
                    bytes_total,
                    json.dumps(mapping, ensure_ascii=False),
                ),
            )
            if cursor.lastrowid is None:  # pragma: no cover
                raise StoreError("insert returned no row id")
            return cursor.lastrowid

    async def progress(
        self,
        batch_id: int,
        counts: dict[str, int],
        rejects: Sequence[tuple[int, str, list[str]]] = (),
        *,
        state: str | None = None,
        error: str | None = None,
    ) -> None:
        """The counts so far and the rejected rows since the last call; with ``state``
        (done, failed) the batch is finished."""
        sets = ", ".join(f"{key} = ?" for key in COUNTS)
        params: list[Any] = [int(counts.get(key, 0)) for key in COUNTS]
        if state is not None:
            sets += ", state = ?, finished_at = ?, error = ?"
            params += [state, iso(self._clock()), error]
        async with self._db.transaction() as conn:
            await conn.execute(
                f"UPDATE import_batches SET {sets} WHERE id = ?", (*params, batch_id)
            )
            await conn.executemany(
                "INSERT INTO import_rejects (batch_id, row, reason, cells) VALUES (?, ?, ?, ?)",
                [
                    (batch_id, row, reason, json.dumps(cells, ensure_ascii=False))
                    for row, reason, cells in rejects
                ],
            )

    async def get(self, batch_id: int) -> dict[str, Any]:
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT {', '.join(BATCH_COLUMNS)} FROM import_batches WHERE id = ?",
                    (batch_id,),
                )
            )
        if not rows:
            raise NotFoundError(f"no import {batch_id}")
        return batch_json(rows[0])

    async def recent(self, *, limit: int = 100) -> list[dict[str, Any]]:
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {', '.join(BATCH_COLUMNS)} FROM import_batches ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        return [batch_json(r) for r in rows]

    async def rejects(self, batch_id: int) -> list[tuple[int, str, list[str]]]:
        await self.get(batch_id)
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT row, reason, cells FROM import_rejects WHERE batch_id = ? ORDER BY row",
                (batch_id,),
            )
        return [(int(r[0]), str(r[1]), list(json.loads(r[2]))) for r in rows]

    async def interrupt_running(self) -> int:
        """Batches left 'running' by a process that stopped: failed (at start-up)."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE import_batches SET state = 'failed', finished_at = ?,"
                " error = 'interrupted: the server stopped' WHERE state = 'running'",
                (iso(self._clock()),),
            )
            return cursor.rowcount
